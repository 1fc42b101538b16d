"""NumPy's RuntimeWarnings must not leak where torch is silent: a battery of inf/NaN/overflow inputs run in a fresh
interpreter with Python's default warning filters (pytest would drop backprop's import-time filter), then again
with ``simplefilter("error")`` set after the import, each result compared with torch's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the battery's results are compared with torch's")

CASES = [
    "T(1e39)",
    "T([[1e39, 1.0]])",
    "T(70000.0, dtype=torch.float16)",
    "T([1e39], dtype=torch.bfloat16)",
    "torch.as_tensor([1e39])",
    "torch.as_tensor(np.array([1e39]), dtype=torch.float32)",
    "torch.zeros(2).new_tensor([1e39])",
    "repr(T([1e39, 1.0]))",
    "T([1e39]).item()",
    "torch.arange(0, 1e39, 1e38)",
    "torch.linspace(0, inf, 3)",
    "torch.linspace(-inf, inf, 3)",
    "torch.linspace(0, inf, 1)",
    "torch.linspace(inf, 0, 4)",
    "torch.linspace(0, inf, 4, dtype=torch.float64)",
    "torch.linspace(0, inf, 4, dtype=torch.float16)",
    "torch.linspace(-inf, 1, 5)",
    "torch.logspace(0, 400, 3)",
    "torch.logspace(0, 40, 3, dtype=torch.float32)",
    "torch.logspace(0, -1, 3, base=0.0)",
    "torch.logspace(0, inf, 3)",
    "torch.fft.rfft(T([1e38, 1e38, 1e38, 1e38]))",
    "torch.fft.rfft(T([inf, 1.0, 2.0, 3.0]))",
    "torch.fft.fft(T([inf, 1.0, 2.0, 3.0]))",
    "torch.fft.irfft(T([inf, 1.0, 2.0]))",
    "torch.stft(T([inf] * 8), 4, window=torch.ones(4), return_complex=True)",
    "torch.special.chebyshev_polynomial_t(T([inf]), 3)",
    "torch.special.chebyshev_polynomial_u(T([inf]), 3)",
    "torch.special.hermite_polynomial_h(T([1e20]), 3)",
    "torch.special.hermite_polynomial_he(T([inf]), 3)",
    "torch.special.laguerre_polynomial_l(T([inf]), 3)",
    "torch.special.legendre_polynomial_p(T([inf]), 3)",
    "torch.special.shifted_chebyshev_polynomial_t(T([inf]), 3)",
    "torch.special.chebyshev_polynomial_t(T([1e30]), 30)",
    # already silent: kept so that they stay so
    "torch.log(torch.zeros(2))",
    "T([1.0, 0.0]) / torch.zeros(2)",
    "torch.exp(T([1000.0]))",
    "torch.empty(0).mean()",
    "torch.nanmean(T([nan, nan]))",
    "torch.quantile(T([inf, -inf]), 0.5)",
    "torch.linalg.vector_norm(T([inf, 1.0]), 3)",
    "torch.softmax(T([-inf, -inf]), 0)",
    "F.mse_loss(torch.empty(0), torch.empty(0))",
    "F.cross_entropy(torch.empty(0, 3), torch.empty(0, dtype=torch.long))",
    "F.normalize(torch.zeros(1, 2))",
    "D.Beta(0.5, 0.5).log_prob(T([0.0, 1.0]))",
    "D.Categorical(probs=T([0.0, 1.0])).entropy()",
    "torch.special.digamma(T([0.0, -1.0]))",
    "torch.cov(T([[1.0]]))",
]

SCRIPT = r"""
import json, sys, warnings
import numpy as np
if sys.argv[1] == "bp":
    import backprop as torch
else:
    import torch
F, D = torch.nn.functional, torch.distributions
if sys.argv[2] == "error":
    warnings.simplefilter("error")
T, inf, nan = torch.tensor, float("inf"), float("nan")
out = []
for code in json.loads(sys.argv[3]):
    with warnings.catch_warnings(record=True) as rec:
        try:
            v = eval(code)
            v = repr(v.tolist()) + str(v.dtype).replace("torch.", "") if hasattr(v, "tolist") else repr(v)
        except Exception as e:
            v = "raised " + type(e).__name__ + ": " + str(e)
    out.append([v, [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]])
print(json.dumps(out))
"""


def _run(which: str, mode: str) -> list:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, which, mode, json.dumps(CASES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def reference() -> list:
    return _run("torch", "default")


@pytest.mark.parametrize("mode", ["default", "error"])
def test_no_numpy_runtime_warning_and_torch_values(mode: str, reference: list) -> None:
    ours = _run("bp", mode)
    leaks = {c: w for c, (_, w) in zip(CASES, ours) if w}
    assert not leaks, leaks
    wrong = {c: (v, ref) for c, (v, _), (ref, _) in zip(CASES, ours, reference) if v != ref}
    assert not wrong, wrong
