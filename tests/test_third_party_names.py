"""Names that libraries built on torch reach for (found by scanning timm, ignite, litgpt and torch's examples):
optimizers written outside torch import helpers from ``torch.optim.optimizer``, schedulers subclass the deprecated
``_LRScheduler``, traceable code calls ``torch._assert``, hub code reads ``HASH_REGEX``. Each is run with torch and
with backprop where torch is installed, and against closed forms otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp


def _sgdw(lib: Any) -> type:
    """A decoupled-weight-decay SGD written as timm writes its optimizers (torch.optim.optimizer's helpers)."""
    from importlib import import_module

    opt = import_module(f"{lib.__name__}.optim.optimizer")

    class SGDW(lib.optim.Optimizer):
        def __init__(self, params: opt.ParamsT, lr: float = opt.required, weight_decay: float = 0.0) -> None:  # type: ignore[name-defined]
            if lr is not opt.required and lr < 0.0:
                raise ValueError(f"Invalid learning rate: {lr}")
            super().__init__(params, dict(lr=lr, weight_decay=weight_decay, differentiable=False))

        @opt._use_grad_for_differentiable
        @opt._disable_dynamo_if_unsupported(single_tensor_fn=None)
        def step(self, closure: Any = None) -> None:
            assert not lib.is_grad_enabled()  # (the decorator: no grad for a non-differentiable optimizer)
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                fused, foreach = opt._default_to_fused_or_foreach(params, False)
                assert fused is False
                grouped = self._group_tensors_by_device_and_dtype([params, [p.grad for p in params]])
                for (dev_params, dev_grads), _ in grouped.values():
                    for p, g in zip(dev_params, dev_grads):
                        p.mul_(1 - group["lr"] * group["weight_decay"])
                        p.add_(g, alpha=-group["lr"] * opt._get_value(lib.tensor(4.0)) / 4)

    return SGDW


def _train(lib: Any, w0: np.ndarray) -> np.ndarray:
    w = lib.tensor(w0, requires_grad=True)
    b = lib.tensor(w0[:1].copy(), requires_grad=True)
    opt = _sgdw(lib)([w, b], lr=0.1, weight_decay=0.01)
    for _ in range(3):
        opt.zero_grad()
        ((w * w).sum() + (b * 3).sum()).backward()
        opt.step()
    return np.concatenate([w.detach().numpy(), b.detach().numpy()])


def test_an_optimizer_written_with_torchs_helpers() -> None:
    w0 = np.array([1.0, -2.0, 0.5])
    got = _train(bp, w0)
    w = w0.copy()
    for _ in range(3):  # closed form: w <- w (1 - lr wd) - lr * 2w (the helper chain's factor is 4 / 4 = 1)
        w = w * (1 - 0.1 * 0.01) - 0.1 * 2 * w
    np.testing.assert_allclose(got[:3], w, rtol=1e-12)
    assert repr(bp.optim.optimizer.required) == "<required parameter>"
    torch = pytest.importorskip("torch", reason="torch not installed: compared with it where it is")
    np.testing.assert_allclose(got, _train(torch, w0), rtol=1e-14)  # (add_ with alpha: torch may fuse the multiply)
    from torch.optim.optimizer import required

    assert repr(bp.optim.optimizer.required) == repr(required)
    assert bp.optim.optimizer._get_capturable_supported_devices() == ["cuda", "xla"]


def test_the_deprecated_lr_scheduler_base() -> None:
    class Halving(bp.optim.lr_scheduler._LRScheduler):
        def get_lr(self) -> list[float]:
            return [base * 0.5**self.last_epoch for base in self.base_lrs]

    opt = bp.optim.SGD([bp.zeros(1, requires_grad=True)], lr=1.0)
    sched = Halving(opt)
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [0.125] and isinstance(sched, bp.optim.lr_scheduler.LRScheduler)


def test_assert_hub_regex_and_sdp_backend() -> None:
    bp._assert(bp.tensor(True), "fine")
    with pytest.raises(AssertionError, match="shape mismatch"):
        bp._assert(bp.tensor(2) == 3, "shape mismatch")
    assert bp.hub.HASH_REGEX.search("resnet18-f37072fd.pth").group(1) == "f37072fd"
    assert bp.backends.cuda.SDPBackend is bp.nn.attention.SDPBackend
    assert bp.optim.optimizer._to_scalar(bp.tensor([3.0])).shape == () and bp.optim.optimizer._to_scalar(2.0) == 2.0
    assert bp.optim.optimizer._get_scalar_dtype() == bp.float32


def test_dynamo_config_switches() -> None:
    """timm, litgpt and LLMs-from-scratch set torch._dynamo.config switches: known names read and set (torch's
    defaults), unknown ones are torch's AttributeError."""
    import importlib

    cfg = importlib.import_module("backprop._dynamo.config")
    assert cfg is bp._dynamo.config and cfg.cache_size_limit == 8 and cfg.suppress_errors is False
    cfg.suppress_errors = True
    try:
        assert bp._dynamo.config.suppress_errors is True
    finally:
        cfg.suppress_errors = False
    with pytest.raises(AttributeError, match="config.no_such_switch does not exist"):
        cfg.no_such_switch = 1
    with pytest.raises(AttributeError, match="config.no_such_switch does not exist"):
        _ = cfg.no_such_switch
    pytest.importorskip("torch", reason="torch not installed: the defaults are compared with it")
    import torch._dynamo.config as torch_cfg

    from backprop._dynamo import _DEFAULTS

    assert {k: getattr(torch_cfg, k) for k in _DEFAULTS} == _DEFAULTS


_TIMM_STYLE = """
@torch.fx.wrap
def scaled(x, s):
    return x * s

torch.fx.wrap("scaled")  # (the by-name form)

class Layer(torch.nn.Module):
    def forward(self, x):
        if torch.onnx.is_in_onnx_export():
            return x
        return scaled(x, 2.0)

out = Layer()(torch.ones(2)).tolist()
"""


def _timm_style_layer(lib: Any) -> Any:
    """timm's layers mark leaf functions with ``@torch.fx.wrap`` at module scope and branch on
    ``torch.onnx.is_in_onnx_export()`` in forward (timm/layers/pos_embed.py, attention.py): a module's
    source run with ``lib`` as ``torch``."""
    namespace: dict[str, Any] = {"torch": lib}
    exec(compile(_TIMM_STYLE, "timm_style_module", "exec"), namespace)  # (module scope, as wrap requires)
    return namespace["out"]


def test_fx_wrap_and_onnx_queries_as_torch() -> None:
    ours = _timm_style_layer(bp)
    assert ours == [2.0, 2.0]
    assert [m.name for m in bp.onnx.TrainingMode] == ["EVAL", "PRESERVE", "TRAINING"]
    with pytest.raises(NotImplementedError, match="cannot export ONNX"):
        bp.onnx.export(bp.nn.Linear(2, 2), (bp.ones(1, 2),), "model.onnx")
    with pytest.raises(AttributeError, match="no FX graph capture"):
        bp.fx.symbolic_trace(bp.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="Must be either a callable or string name"):
        bp.fx.wrap(3)
    with pytest.raises(NotImplementedError, match="top level of a module"):
        bp.fx.wrap("scaled")  # (inside a function)
    torch = pytest.importorskip("torch", reason="torch not installed: the comparison needs it")
    assert _timm_style_layer(torch) == ours
    for name in ("TrainingMode", "OperatorExportTypes"):  # (torch's are pybind11 enums: read __members__)
        theirs = {k: int(v) for k, v in getattr(torch.onnx, name).__members__.items()}
        assert theirs == {k: int(v) for k, v in getattr(bp.onnx, name).__members__.items()}
