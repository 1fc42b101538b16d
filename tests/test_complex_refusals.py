"""Ops torch refuses for complex input raise torch's exception here too (class and message), where NumPy
would compute meaningless values; the same ops work on real input; and a program that never makes a
complex array keeps the bare kernels (the refusal is wired in lazily, ``registry._REAL_ONLY``)."""

import subprocess
import sys

import numpy as np
import pytest

import backprop as bp

try:
    import torch
except ImportError:  # pragma: no cover - torch is the reference, optional
    torch = None

# each case: a function of (module, x, y) run with bp and torch as the module
CASES = {
    "relu": lambda m, x, y: m.relu(x),
    "relu6": lambda m, x, y: m.nn.functional.relu6(x),
    "F.relu": lambda m, x, y: m.nn.functional.relu(x),
    "cdist": lambda m, x, y: m.cdist(x.reshape(2, 3), y.reshape(2, 3)),
    "cosine_similarity": lambda m, x, y: m.nn.functional.cosine_similarity(x.reshape(2, 3), y.reshape(2, 3)),
    "clamp": lambda m, x, y: m.clamp(x, -1, 1),
    "clamp_min": lambda m, x, y: m.clamp_min(x, 0),
    "clamp_max": lambda m, x, y: m.clamp_max(x, 0),
    "clamp_t": lambda m, x, y: m.clamp(x, min=y),
    "hardtanh": lambda m, x, y: m.nn.functional.hardtanh(x),
    "maximum": lambda m, x, y: m.maximum(x, y),
    "minimum": lambda m, x, y: m.minimum(x, y),
    "fmax": lambda m, x, y: m.fmax(x, y),
    "fmin": lambda m, x, y: m.fmin(x, y),
    "max": lambda m, x, y: m.max(x),
    "max_dim": lambda m, x, y: m.max(x, 0),
    "max_binary": lambda m, x, y: m.max(x, y),
    "min": lambda m, x, y: m.min(x),
    "min_dim": lambda m, x, y: m.min(x, 0),
    "amax": lambda m, x, y: m.amax(x),
    "amin": lambda m, x, y: m.amin(x),
    "aminmax": lambda m, x, y: m.aminmax(x),
    "argmax": lambda m, x, y: m.argmax(x),
    "argmin": lambda m, x, y: m.argmin(x),
    "median": lambda m, x, y: m.median(x),
    "median_dim": lambda m, x, y: m.median(x, 0),
    "nanmedian": lambda m, x, y: m.nanmedian(x),
    "mode": lambda m, x, y: m.mode(x),
    "sort": lambda m, x, y: m.sort(x),
    "argsort": lambda m, x, y: m.argsort(x),
    "msort": lambda m, x, y: m.msort(x),
    "topk": lambda m, x, y: m.topk(x, 2),
    "kthvalue": lambda m, x, y: m.kthvalue(x, 2),
    "cummax": lambda m, x, y: m.cummax(x, 0),
    "cummin": lambda m, x, y: m.cummin(x, 0),
    "searchsorted": lambda m, x, y: m.searchsorted(x, y),
    "unique": lambda m, x, y: m.unique(x),
    "erf": lambda m, x, y: m.erf(x),
    "erfc": lambda m, x, y: m.erfc(x),
    "erfinv": lambda m, x, y: m.erfinv(x),
    "lgamma": lambda m, x, y: m.lgamma(x),
    "digamma": lambda m, x, y: m.digamma(x),
    "i0": lambda m, x, y: m.i0(x),
    "gelu": lambda m, x, y: m.nn.functional.gelu(x),
    "elu": lambda m, x, y: m.nn.functional.elu(x),
    "leaky_relu": lambda m, x, y: m.nn.functional.leaky_relu(x),
    "softplus": lambda m, x, y: m.nn.functional.softplus(x),
    "mish": lambda m, x, y: m.nn.functional.mish(x),
    "hardswish": lambda m, x, y: m.nn.functional.hardswish(x),
    "hardsigmoid": lambda m, x, y: m.nn.functional.hardsigmoid(x),
    "logsigmoid": lambda m, x, y: m.nn.functional.logsigmoid(x),
    "selu": lambda m, x, y: m.nn.functional.selu(x),
    "celu": lambda m, x, y: m.nn.functional.celu(x),
    "threshold": lambda m, x, y: m.nn.functional.threshold(x, 0.1, 0.0),
    "layer_norm": lambda m, x, y: m.nn.functional.layer_norm(x.reshape(2, 3), (3,)),
    "group_norm": lambda m, x, y: m.nn.functional.group_norm(x.reshape(1, 2, 3), 1),
    "batch_norm": lambda m, x, y: m.nn.functional.batch_norm(x.reshape(2, 3), None, None, training=True),
    "cross_entropy": lambda m, x, y: m.nn.functional.cross_entropy(x.reshape(2, 3), m.tensor([0, 1])),
    "nll_loss": lambda m, x, y: m.nn.functional.nll_loss(x.reshape(2, 3), m.tensor([0, 1])),
    "mse_loss": lambda m, x, y: m.nn.functional.mse_loss(x, y),
    "smooth_l1_loss": lambda m, x, y: m.nn.functional.smooth_l1_loss(x, y),
    "huber_loss": lambda m, x, y: m.nn.functional.huber_loss(x, y),
    "bce_logits": lambda m, x, y: m.nn.functional.binary_cross_entropy_with_logits(x, y),
    "floor": lambda m, x, y: m.floor(x),
    "ceil": lambda m, x, y: m.ceil(x),
    "round": lambda m, x, y: m.round(x),
    "trunc": lambda m, x, y: m.trunc(x),
    "frac": lambda m, x, y: m.frac(x),
    "remainder": lambda m, x, y: m.remainder(x, y),
    "fmod": lambda m, x, y: m.fmod(x, y),
    "floor_divide": lambda m, x, y: m.floor_divide(x, y),
    "lt": lambda m, x, y: m.lt(x, y),
    "le": lambda m, x, y: m.le(x, y),
    "gt": lambda m, x, y: m.gt(x, y),
    "ge": lambda m, x, y: m.ge(x, y),
    "lt_op": lambda m, x, y: x < y,
    "lt_scalar": lambda m, x, y: x < 0,
    "sign": lambda m, x, y: m.sign(x),
    "signbit": lambda m, x, y: m.signbit(x),
    "heaviside": lambda m, x, y: m.heaviside(x, y),
    "copysign": lambda m, x, y: m.copysign(x, y),
    "atan2": lambda m, x, y: m.atan2(x, y),
    "hypot": lambda m, x, y: m.hypot(x, y),
    "logaddexp2": lambda m, x, y: m.logaddexp2(x, y),
    "nextafter": lambda m, x, y: m.nextafter(x, y),
    "xlogy": lambda m, x, y: m.xlogy(x, y),
    "logit": lambda m, x, y: m.logit(x),
    "polygamma": lambda m, x, y: m.polygamma(1, x),
    "i1": lambda m, x, y: m.special.i1(x),
    "pdist": lambda m, x, y: m.nn.functional.pdist(x.reshape(2, 3)),
    "isin": lambda m, x, y: m.isin(x, y),
    "prelu": lambda m, x, y: m.nn.functional.prelu(x.reshape(1, 6), m.ones(1, dtype=x.dtype)),
    "rrelu": lambda m, x, y: m.nn.functional.rrelu(x),
    "softshrink": lambda m, x, y: m.nn.functional.softshrink(x),
    "hardshrink": lambda m, x, y: m.nn.functional.hardshrink(x),
    "glu": lambda m, x, y: m.nn.functional.glu(x),
    "clip": lambda m, x, y: m.clip(x, -1, 1),
    "kl_div": lambda m, x, y: m.nn.functional.kl_div(x, y),
    "fix": lambda m, x, y: m.fix(x),
    "isposinf": lambda m, x, y: m.isposinf(x),
    "isneginf": lambda m, x, y: m.isneginf(x),
    "nanmean": lambda m, x, y: m.nanmean(x),
    "nansum": lambda m, x, y: m.nansum(x),
    "special.ndtr": lambda m, x, y: m.special.ndtr(x),
    "special.erfcx": lambda m, x, y: m.special.erfcx(x),
    "special.entr": lambda m, x, y: m.special.entr(x),
    "special.xlog1py": lambda m, x, y: m.special.xlog1py(x, y),
    "special.log_ndtr": lambda m, x, y: m.special.log_ndtr(x),
    "special.ndtri": lambda m, x, y: m.special.ndtri(x),
    "special.gammaln": lambda m, x, y: m.special.gammaln(x),
    "special.zeta": lambda m, x, y: m.special.zeta(x, y),
}

# torch 2.13's exception for complex64 input (CPU): class and the message's first line
TORCH = {
    "relu": (NotImplementedError, "clamp is not supported for complex types"),
    "relu6": (NotImplementedError, "clamp is not supported for complex types"),
    "F.relu": (NotImplementedError, "clamp is not supported for complex types"),
    "cdist": (RuntimeError, "cdist only supports floating-point dtypes, X1 got: ComplexFloat"),
    "cosine_similarity": (RuntimeError, "expected common dtype to be floating point, yet common dtype is ComplexFloat"),
    "clamp": (NotImplementedError, "clamp is not supported for complex types"),
    "clamp_min": (NotImplementedError, "clamp is not supported for complex types"),
    "clamp_max": (NotImplementedError, "clamp is not supported for complex types"),
    "clamp_t": (NotImplementedError, "clamp is not supported for complex types"),
    "hardtanh": (NotImplementedError, "clamp is not supported for complex types"),
    "maximum": (RuntimeError, "maximum not implemented for complex tensors."),
    "minimum": (RuntimeError, "minimum not implemented for complex tensors."),
    "fmax": (RuntimeError, "fmax not implemented for complex tensors."),
    "fmin": (RuntimeError, "fmin not implemented for complex tensors."),
    "max": (NotImplementedError, "\"max_all\" not implemented for 'ComplexFloat'"),
    "max_dim": (RuntimeError, "max(): does not support complex input"),
    "max_binary": (RuntimeError, "maximum not implemented for complex tensors."),
    "min": (NotImplementedError, "\"min_all\" not implemented for 'ComplexFloat'"),
    "min_dim": (RuntimeError, "min(): does not support complex input"),
    "amax": (NotImplementedError, "\"max_values_cpu\" not implemented for 'ComplexFloat'"),
    "amin": (NotImplementedError, "\"min_values_cpu\" not implemented for 'ComplexFloat'"),
    "aminmax": (NotImplementedError, "\"aminmax_cpu\" not implemented for 'ComplexFloat'"),
    "argmax": (RuntimeError, "argmax(): does not support complex input"),
    "argmin": (RuntimeError, "argmin(): does not support complex input"),
    "median": (NotImplementedError, "\"median_cpu\" not implemented for 'ComplexFloat'"),
    "median_dim": (NotImplementedError, "\"median_out\" not implemented for 'ComplexFloat'"),
    "nanmedian": (NotImplementedError, "\"median_cpu\" not implemented for 'ComplexFloat'"),
    "mode": (NotImplementedError, "\"mode_cpu\" not implemented for 'ComplexFloat'"),
    "sort": (RuntimeError, " Sort does not support complex dtypes on CPU"),
    "argsort": (RuntimeError, " Sort does not support complex dtypes on CPU"),
    "msort": (RuntimeError, " Sort does not support complex dtypes on CPU"),
    "topk": (RuntimeError, " topk does not support complex dtypes on CPU"),
    "kthvalue": (NotImplementedError, "\"kthvalue_cpu\" not implemented for 'ComplexFloat'"),
    "cummax": (NotImplementedError, "\"cummax_cpu\" not implemented for 'ComplexFloat'"),
    "cummin": (NotImplementedError, "\"cummin_cpu\" not implemented for 'ComplexFloat'"),
    "searchsorted": (NotImplementedError, "\"searchsorted_out_cpu\" not implemented for 'ComplexFloat'"),
    "unique": (NotImplementedError, "\"unique\" not implemented for 'ComplexFloat'"),
    "erf": (NotImplementedError, "\"erf_vml_cpu\" not implemented for 'ComplexFloat'"),
    "erfc": (NotImplementedError, "\"erfc_vml_cpu\" not implemented for 'ComplexFloat'"),
    "erfinv": (NotImplementedError, "\"erfinv_vml_cpu\" not implemented for 'ComplexFloat'"),
    "lgamma": (NotImplementedError, "\"lgamma_vml_cpu\" not implemented for 'ComplexFloat'"),
    "digamma": (NotImplementedError, "\"digamma\" not implemented for 'ComplexFloat'"),
    "i0": (NotImplementedError, "\"i0_vml_cpu\" not implemented for 'ComplexFloat'"),
    "gelu": (NotImplementedError, "\"GeluKernelImpl\" not implemented for 'ComplexFloat'"),
    "elu": (NotImplementedError, "\"elu_cpu\" not implemented for 'ComplexFloat'"),
    "leaky_relu": (NotImplementedError, "\"leaky_relu_cpu\" not implemented for 'ComplexFloat'"),
    "softplus": (NotImplementedError, "\"softplus_cpu\" not implemented for 'ComplexFloat'"),
    "mish": (NotImplementedError, "\"mish_cpu\" not implemented for 'ComplexFloat'"),
    "hardswish": (NotImplementedError, "\"hardswish_cpu\" not implemented for 'ComplexFloat'"),
    "hardsigmoid": (NotImplementedError, "\"hardsigmoid_cpu\" not implemented for 'ComplexFloat'"),
    "logsigmoid": (NotImplementedError, "\"log_sigmoid_cpu\" not implemented for 'ComplexFloat'"),
    "selu": (NotImplementedError, "\"elu_cpu\" not implemented for 'ComplexFloat'"),
    "celu": (NotImplementedError, "\"elu_cpu\" not implemented for 'ComplexFloat'"),
    "threshold": (NotImplementedError, "\"threshold_cpu\" not implemented for 'ComplexFloat'"),
    "layer_norm": (NotImplementedError, "\"LayerNormKernelImpl\" not implemented for 'ComplexFloat'"),
    "group_norm": (NotImplementedError, "\"GroupNormKernelImpl\" not implemented for 'ComplexFloat'"),
    "batch_norm": (NotImplementedError, "\"batch_norm\" not implemented for 'ComplexFloat'"),
    "cross_entropy": (NotImplementedError, "\"log_softmax_lastdim_kernel_impl\" not implemented for 'ComplexFloat'"),
    "nll_loss": (NotImplementedError, "\"nll_loss_out_frame\" not implemented for 'ComplexFloat'"),
    "mse_loss": (NotImplementedError, "\"mse_cpu\" not implemented for 'ComplexFloat'"),
    "smooth_l1_loss": (NotImplementedError, "\"smooth_l1_cpu\" not implemented for 'ComplexFloat'"),
    "huber_loss": (NotImplementedError, "\"huber_cpu\" not implemented for 'ComplexFloat'"),
    "bce_logits": (NotImplementedError, "\"log_sigmoid_cpu\" not implemented for 'ComplexFloat'"),
    "floor": (NotImplementedError, "floor is not supported for complex inputs"),
    "ceil": (NotImplementedError, "ceil is not supported for complex inputs"),
    "round": (NotImplementedError, "\"round_vml_cpu\" not implemented for 'ComplexFloat'"),
    "trunc": (NotImplementedError, "trunc is not supported for complex inputs"),
    "frac": (NotImplementedError, "\"frac_cpu\" not implemented for 'ComplexFloat'"),
    "remainder": (NotImplementedError, "\"remainder_cpu\" not implemented for 'ComplexFloat'"),
    "fmod": (NotImplementedError, "\"fmod_cpu\" not implemented for 'ComplexFloat'"),
    "floor_divide": (NotImplementedError, "\"div_floor_cpu\" not implemented for 'ComplexFloat'"),
    "lt": (NotImplementedError, "\"lt_cpu\" not implemented for 'ComplexFloat'"),
    "le": (NotImplementedError, "\"le_cpu\" not implemented for 'ComplexFloat'"),
    "gt": (NotImplementedError, "\"gt_cpu\" not implemented for 'ComplexFloat'"),
    "ge": (NotImplementedError, "\"ge_cpu\" not implemented for 'ComplexFloat'"),
    "lt_op": (NotImplementedError, "\"lt_cpu\" not implemented for 'ComplexFloat'"),
    "lt_scalar": (NotImplementedError, "\"lt_cpu\" not implemented for 'ComplexFloat'"),
    "sign": (
        NotImplementedError,
        "Unlike NumPy, torch.sign is not intended to support complex numbers. Please use torch.sgn instead.",
    ),
    "signbit": (NotImplementedError, "signbit is not implemented for complex tensors."),
    "heaviside": (RuntimeError, "heaviside is not yet implemented for complex tensors."),
    "copysign": (NotImplementedError, "\"copysign_cpu\" not implemented for 'ComplexFloat'"),
    "atan2": (NotImplementedError, "\"atan2_cpu\" not implemented for 'ComplexFloat'"),
    "hypot": (NotImplementedError, "\"hypot_cpu\" not implemented for 'ComplexFloat'"),
    "logaddexp2": (NotImplementedError, "\"logaddexp2_cpu\" not implemented for 'ComplexFloat'"),
    "nextafter": (NotImplementedError, "\"nextafter_cpu\" not implemented for 'ComplexFloat'"),
    "xlogy": (NotImplementedError, "\"xlogy_cpu\" not implemented for 'ComplexFloat'"),
    "logit": (NotImplementedError, "\"logit_cpu\" not implemented for 'ComplexFloat'"),
    "polygamma": (NotImplementedError, "\"trigamma\" not implemented for 'ComplexFloat'"),
    "i1": (NotImplementedError, "\"i1_cpu\" not implemented for 'ComplexFloat'"),
    "pdist": (RuntimeError, "pdist only supports floating-point dtypes"),
    "isin": (RuntimeError, "Unsupported input type encountered for isin(): ComplexFloat"),
    "prelu": (NotImplementedError, "\"prelu_cpu\" not implemented for 'ComplexFloat'"),
    "rrelu": (NotImplementedError, "\"leaky_relu_cpu\" not implemented for 'ComplexFloat'"),
    "softshrink": (NotImplementedError, "\"softshrink_check\" not implemented for 'ComplexFloat'"),
    "hardshrink": (NotImplementedError, "\"hardshrink_cpu\" not implemented for 'ComplexFloat'"),
    "glu": (NotImplementedError, "\"glu_cpu\" not implemented for 'ComplexFloat'"),
    "clip": (NotImplementedError, "clamp is not supported for complex types"),
    "kl_div": (RuntimeError, "kl_div: Complex inputs not supported."),
    "fix": (NotImplementedError, "trunc is not supported for complex inputs"),
    "isposinf": (RuntimeError, "isposinf does not support complex inputs."),
    "isneginf": (RuntimeError, "isneginf does not support complex inputs."),
    "nanmean": (RuntimeError, "nansum on CPU does not support complex inputs"),
    "nansum": (RuntimeError, "nansum on CPU does not support complex inputs"),
    "special.ndtr": (NotImplementedError, "\"erf_vml_cpu\" not implemented for 'ComplexFloat'"),
    "special.erfcx": (NotImplementedError, "\"erfcx_cpu\" not implemented for 'ComplexFloat'"),
    "special.entr": (NotImplementedError, "\"entr_cpu\" not implemented for 'ComplexFloat'"),
    "special.xlog1py": (NotImplementedError, "\"xlog1py_cpu\" not implemented for 'ComplexFloat'"),
    "special.log_ndtr": (NotImplementedError, "\"log_ndtr_cpu\" not implemented for 'ComplexFloat'"),
    "special.ndtri": (NotImplementedError, "\"ndtri_cpu\" not implemented for 'ComplexFloat'"),
    "special.gammaln": (NotImplementedError, "\"lgamma_vml_cpu\" not implemented for 'ComplexFloat'"),
    "special.zeta": (NotImplementedError, "\"zeta_cpu\" not implemented for 'ComplexFloat'"),
}

_rs = np.random.RandomState(0)
XC = (_rs.randn(6) + 1j * _rs.randn(6)).astype(np.complex64)
YC = (_rs.randn(6) + 1j * _rs.randn(6)).astype(np.complex64)


def _raised(fn, module, x, y):
    try:
        fn(module, x, y)
    except Exception as e:  # noqa: BLE001 - the class is compared by the caller
        return type(e), str(e).splitlines()[0]
    return None, "did not raise"


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(TORCH))
def test_complex_input_is_refused_as_torch(name):
    fn, (cls, message) = CASES[name], TORCH[name]
    assert _raised(fn, bp, bp.from_numpy(XC.copy()), bp.from_numpy(YC.copy())) == (cls, message)
    x128 = bp.from_numpy(XC.astype(np.complex128))
    assert _raised(fn, bp, x128, bp.from_numpy(YC.astype(np.complex128)))[0] is cls
    if torch is None:
        pytest.skip("torch is not installed (the reference's half)")
    assert _raised(fn, torch, torch.from_numpy(XC.copy()), torch.from_numpy(YC.copy())) == (cls, message)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(TORCH))
def test_real_input_still_works(name):
    fn = CASES[name]
    bp.from_numpy(XC.copy())  # a complex array exists: the real-only kernels carry their check
    fn(bp, bp.from_numpy(XC.real.copy()), bp.from_numpy(YC.real.copy()))
    fn(bp, bp.from_numpy(XC.real.astype(np.float64)), bp.from_numpy(YC.real.astype(np.float64)))
    if torch is None:
        pytest.skip("torch is not installed (the reference's half)")
    fn(torch, torch.from_numpy(XC.real.copy()), torch.from_numpy(YC.real.copy()))


def test_mixed_real_and_complex_operands():
    x, z = bp.randn(3), bp.randn(3, dtype=bp.complex64)
    with pytest.raises(RuntimeError, match="maximum not implemented for complex tensors"):
        bp.maximum(x, z)
    with pytest.raises(NotImplementedError, match="lt_cpu"):
        x < z  # noqa: B015 - the comparison raises
    with pytest.raises(NotImplementedError, match="clamp is not supported"):
        x.clamp(min=z)
    assert bp.equal(bp.maximum(x, x), x) and bool((z == z).all())  # eq/ne stay defined for complex


def test_real_programs_keep_the_bare_kernels():
    """No complex array, no check: the real-only kernels stay the bare ones until the first complex array,
    and note_complex is never called."""
    code = """
import functools
import numpy as np
import backprop as bp
from backprop import dtypes, registry
calls = []
original = dtypes.note_complex
dtypes.note_complex = lambda: (calls.append(1), original())
cpu = bp.device("cpu").backend
lt, relu, mx = registry.get("lt"), registry.get("relu"), registry.get("maximum")
x = bp.randn(3, 4, requires_grad=True)
y = bp.nn.functional.gelu(bp.relu(x)).clamp(-1, 1)
(y.maximum(bp.zeros(3, 4)) + (x < 0).float() + x.sort(1).values).sum().backward()
bp.randn(2, 2, dtype=bp.float64).argmax()
assert not registry._COMPLEX_SEEN[0] and dtypes.COMPLEX_USE.pending is not None and not calls
assert lt.kernel(cpu) is np.less and mx.kernel(cpu) is np.maximum
assert isinstance(relu.kernel(cpu), functools.partial)
{make}
assert registry._COMPLEX_SEEN[0] and dtypes.COMPLEX_USE.pending is None
assert lt.kernel(cpu) is not np.less and mx.kernel(cpu) is not np.maximum
assert not isinstance(relu.kernel(cpu), functools.partial)
print("ok")
"""
    makes = (
        "bp.ones(2) * 1j",
        "bp.zeros(2, dtype=bp.complex64)",
        "bp.from_numpy(np.ones(2, np.complex128))",
        "bp.tensor([1j])",
        "bp.fft.rfft(bp.ones(4))",
        "bp.complex(bp.ones(2), bp.ones(2))",
        "bp.ones(2).to(bp.cfloat)",
    )
    for make in makes:
        out = subprocess.run(
            [sys.executable, "-c", code.format(make=make)], capture_output=True, text=True, timeout=120
        )
        assert out.stdout.strip() == "ok", (make, out.stderr[-2000:])
