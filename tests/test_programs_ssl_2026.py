"""Self-supervised and contrastive programs as torch users write them (SimCLR's NT-Xent, MoCo's queue and momentum
encoder, BYOL/DINO teachers, Barlow Twins, VICReg, CLIP with a learnable logit_scale), each one function of the
library module, run with torch 2.13 and with ``backprop`` standing in for it from the same NumPy-made weights.
Each program also carries what differed: ``opt.state[p]`` of AdamW held a work array torch's has not, and
``x.T`` of a tensor that is not a matrix gave none of torch's deprecation warnings."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop.methods import shape as shape_methods

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")


def arr(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def fill(L: Any, module: Any, seed: int = 0, scale: float = 0.3) -> Any:
    """The same weights in torch's and our module: every float entry of the state dict drawn by NumPy."""
    rng = np.random.default_rng(seed)
    sd = {
        k: L.tensor((rng.normal(size=tuple(v.shape)) * scale).astype(np.float32)) if v.is_floating_point() else v
        for k, v in module.state_dict().items()
    }
    module.load_state_dict(sd)
    return module


def _same(want: Any, got: Any, tol: float = 1e-5, where: str = "") -> None:
    """torch's result ``want`` and ours ``got``: the same structure, dtypes, shapes and values."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), where
        for i, (w, g) in enumerate(zip(want, got)):
            _same(w, g, tol, f"{where}[{i}]")
        return
    if isinstance(want, dict):
        assert list(got) == list(want), where
        for k in want:
            _same(want[k], got[k], tol, f"{where}[{k}]")
        return
    if isinstance(want, torch.Tensor):
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], where
        assert tuple(got.shape) == tuple(want.shape), where
        w, g = want.detach().numpy(), np.asarray(got.detach().numpy())
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=where)
        else:
            np.testing.assert_array_equal(g, w, err_msg=where)
        return
    assert got == want if not isinstance(want, float) else math.isclose(got, want, rel_tol=tol, abs_tol=tol), where


def _both(program: Any, tol: float = 1e-5) -> None:
    _same(program(torch), program(bp), tol)


# ---------------------------------------------------------------- CLIP: symmetric InfoNCE, AdamW param groups


def clip_training(L: Any) -> Any:
    """CLIP's loss with ``logit_scale = Parameter(ones([]) * np.log(1 / 0.07))``, ``clamp(exp(), max=100)``, AdamW
    with the scale out of weight decay, three steps; the optimizer's state as a user prints or counts it."""
    nn, F = L.nn, L.nn.functional
    img = fill(L, nn.Linear(6, 4, bias=False), 6)
    txt = fill(L, nn.Linear(5, 4, bias=False), 7)
    logit_scale = nn.Parameter(L.ones([]) * np.log(1 / 0.07))
    groups = [{"params": [img.weight, txt.weight]}, {"params": [logit_scale], "weight_decay": 0.0}]
    opt = L.optim.AdamW(groups, lr=1e-2, weight_decay=0.2, betas=(0.9, 0.98), eps=1e-6)
    out = []
    for step in range(3):
        ie = img(L.tensor(arr(4, 6, seed=step)))
        te = txt(L.tensor(arr(4, 5, seed=step + 5)))
        ie = ie / ie.norm(dim=1, keepdim=True)
        te = te / te.norm(dim=-1, keepdim=True)
        scale = L.clamp(logit_scale.exp(), max=100)
        logits_per_image = scale * ie @ te.t()
        labels = L.arange(len(ie), dtype=L.long)
        loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with L.no_grad():
            logit_scale.clamp_(0, math.log(100))
        out.append((loss, logit_scale.grad, (logits_per_image.argmax(dim=1) == labels).float().mean()))
    state = opt.state[img.weight]
    return out, img.weight, txt.weight, logit_scale, list(state), len(state), opt.state_dict()["state"]


def test_clip_adamw_state_holds_torchs_keys() -> None:
    _both(clip_training, 1e-4)
    opt = bp.optim.AdamW([bp.nn.Parameter(bp.ones(3))])
    opt.param_groups[0]["params"][0].sum().backward()
    opt.step()
    assert list(opt.state[opt.param_groups[0]["params"][0]]) == ["step", "exp_avg", "exp_avg_sq"]


def test_adam_state_dict_keeps_a_users_key_and_copies_drop_work_arrays() -> None:
    def program(L: Any) -> Any:
        p, q = L.nn.Parameter(L.ones(3)), L.nn.Parameter(L.ones(2, 2))
        opt = L.optim.Adam([p, q], lr=0.1)
        ((p * 2).sum() + (q * q).sum()).backward()
        opt.step()
        opt.state[p]["_seen"] = 1  # (a user's bookkeeping: torch's state_dict keeps it)
        copied = copy.deepcopy(opt)
        copied.step()
        return opt.state_dict()["state"], copied.state_dict()["state"]

    _both(program)


# ---------------------------------------------------------------- MoCo / SimCLR: x.T of a vector or a batch


def _t_warnings(call: Any) -> list[str]:
    shape_methods._T_WARNED.clear()  # (once per process, as torch's: start afresh)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    return [str(w.message).split(" (Triggered internally")[0] for w in seen if w.category is UserWarning]


def test_transpose_of_a_non_matrix_warns_once_as_torch() -> None:
    """MoCo's ``queue[:, ptr:ptr + bs] = keys.T`` is a matrix's transpose; ``k.T`` of a vector (one key) or of a
    batch of similarity matrices is torch's deprecated reversal: its warning, once per process, and the 0-d one."""

    def program(L: Any) -> Any:
        keys = L.nn.functional.normalize(L.tensor(arr(3, 4, seed=2)), dim=1)
        queue = L.zeros(4, 8)
        queue[:, 2:5] = keys.T  # a matrix: no warning
        vec = keys[0].T  # a vector: the deprecation
        sims = L.tensor(arr(2, 3, 3, seed=3)).T  # a batch: the same warning, not repeated
        scale = L.tensor(2.0).T  # 0-d: its own warning
        return queue, vec, sims, scale

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(program(torch), program(bp))
    assert _t_warnings(lambda: program(bp)) == [  # torch 2.13's texts (its own are spent once this process saw them)
        "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will throw "
        "an error in a future release. Consider `x.mT` to transpose batches of matrices or "
        "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor.",
        "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
    ]
