"""torch's own autocast test lists (``torch.testing._internal.autocast_test_lists.AutocastCPUTestLists``) run
against backprop: every listed op, with its listed arguments, inside ``bp.autocast("cpu", dtype=...)`` beside
``torch.autocast("cpu", ...)``, as torch's ``TestAutocastCPU`` runs them (``_run_autocast_outofplace``).

Per op and autocast dtype (bfloat16, and float16 as torch's second pass): the top-level function and the
Tensor method where torch has them, their output dtype the list's expected one (the lower-precision dtype,
float32, builtin promotion's, or the widest input's), shapes and values as torch's (within the half dtype's
rounding), the function and the method identical, and, as torch's own test demands, the output bit for bit
backprop's "control": the op run outside autocast on the arguments cast to the list's dtype by hand. Ops of
``torch._C._nn`` (ATen's bindings, which backprop has no namespace for) run as their ``nn.functional``
counterparts with the bindings' behaviour (their ``reduction`` default reads as 0: no reduction).

A disagreement left on purpose is in ``KNOWN`` with its reason; a KNOWN entry that starts agreeing fails.
"""

from __future__ import annotations

import collections.abc

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")

from tests import opinfo_harness as H  # noqa: E402

if not H.load():
    pytest.skip("torch's test utilities missing", allow_module_level=True)

from torch.testing._internal.autocast_test_lists import AutocastCPUTestLists  # noqa: E402

F = bp.nn.functional

# torch._C._nn's bindings as backprop's nn.functional (the bindings' reduction default reads as 0, "none")
NN = {
    "linear": F.linear,
    "avg_pool3d": F.avg_pool3d,
    "reflection_pad1d": lambda x, padding: F.pad(x, padding, mode="reflect"),
    "binary_cross_entropy": lambda x, y: F.binary_cross_entropy(x, y, reduction="none"),
    "nll_loss": lambda x, y: F.nll_loss(x, y, reduction="none"),
    "nll_loss2d": lambda x, y: F.nll_loss(x, y, reduction="none"),
    "l1_loss": lambda x, y: F.l1_loss(x, y, reduction="none"),
    "smooth_l1_loss": lambda x, y: F.smooth_l1_loss(x, y, reduction="none"),
    "mse_loss": lambda x, y: F.mse_loss(x, y, reduction="none"),
    "multilabel_margin_loss": lambda x, y: F.multilabel_margin_loss(x, y, reduction="none"),
    "soft_margin_loss": lambda x, y: F.soft_margin_loss(x, y, reduction="none"),
    "multi_margin_loss": lambda x, y: F.multi_margin_loss(x, y, reduction="none"),
    "huber_loss": lambda x, y: F.huber_loss(x, y, reduction="none"),
}

KNOWN: dict[str, str] = {
    "torch_16:_addmm_activation": "a private ATen op (addmm fused with relu/gelu): backprop has no such name",
    "torch_16:_native_multi_head_attention": "a private fused ATen kernel: backprop has no such name",
}


def _cases() -> list[tuple[str, str, tuple, dict, object, object, str | None, object]]:
    """(list, op, args, kwargs, run_as_type, amp_dtype, module, out_type), as torch's TestAutocastCPU runs them."""
    torch.manual_seed(0)
    L = AutocastCPUTestLists(torch.device("cpu"))
    bf16, f16, f32 = torch.bfloat16, torch.float16, torch.float32
    out = []
    for name, module in (("torch_expect_builtin_promote", "torch"), ("methods_expect_builtin_promote", None)):
        for op, args1, args2, out_type in getattr(L, name):
            out.append((name, op, args1, {}, f32, bf16, module, out_type))
            out.append((name, op, args2, {}, f32, f16, module, out_type))
    for name, module, run_as in (
        ("torch_16", "torch", None), ("nn_16", "nn", None), ("torch_fp32", "torch", f32), ("nn_fp32", "nn", f32)
    ):  # fmt: skip
        for entry in getattr(L, name):
            op, args, kwargs = entry if len(entry) == 3 else (*entry, {})
            for amp in (bf16, f16):
                out.append((name, op, args, kwargs, run_as or amp, amp, module, run_as or amp))
    for op, args1, args2 in L.torch_need_autocast_promote:
        out.append(("torch_need_autocast_promote", op, args1, {}, f32, bf16, "torch", f32))
        out.append(("torch_need_autocast_promote", op, args2, {}, f32, f16, "torch", f32))
    return out


CASES = _cases()


def _dt(d: object) -> object:
    return getattr(bp, str(d).removeprefix("torch."))


def _torch_fn(op: str, module: str | None) -> object:
    if module == "torch":
        return getattr(torch, op, None)
    return getattr(torch._C._nn, op) if module == "nn" else None


def _bp_fn(op: str, module: str | None) -> object:
    if module == "torch":
        return getattr(bp, op, None)
    return NN.get(op) if module == "nn" else None


def _same(a: object, b: object) -> bool:
    """torch's test's ``compare``: tensors equal bit for bit (dtype included), containers element by element."""
    if isinstance(a, bp.Tensor):
        return (
            isinstance(b, bp.Tensor)
            and a.dtype == b.dtype
            and tuple(a.shape) == tuple(b.shape)
            and np.array_equal(H._np(a), H._np(b), equal_nan=True)
        )
    if isinstance(a, collections.abc.Iterable):
        return all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _cast(v: object, dtype: object) -> object:
    if isinstance(v, bp.Tensor):
        return v.to(dtype) if v.is_floating_point() else v
    if isinstance(v, (list, tuple)):
        return type(v)(_cast(x, dtype) for x in v)
    return v


def _values(t: object, b: object, amp: object) -> str | None:
    """Shapes, dtypes and values as torch's: within a few units in the last place of the result's dtype (torch's
    bfloat16/float16 kernels accumulate in their own order)."""
    rtol = {torch.bfloat16: 1.6e-2, torch.float16: 2e-3}.get(getattr(t, "dtype", None), 1.3e-5)
    flat = [x for x in H.flat(t) if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel()]
    scale = max((float(x.abs().max()) for x in flat), default=0)
    return H.compare("autocast", t, b, rtol, 2 * rtol * scale + 1e-5)


def check(case: tuple) -> str | None:
    """None when backprop agrees with torch on ``case``, else the first difference."""
    _, op, args, kwargs, run_as, amp, module, out_type = case
    with torch.autocast("cpu", dtype=amp):
        tf = _torch_fn(op, module)
        expected = tf(*args, **kwargs) if tf is not None else getattr(args[0], op)(*args[1:], **kwargs)
    bargs, bkw = H.to_bp(args), H.to_bp(kwargs)
    if bp.is_autocast_enabled("cpu"):
        return "autocast enabled before the region"
    outputs = []
    with bp.autocast("cpu", dtype=_dt(amp)):
        if not bp.is_autocast_enabled("cpu"):
            return "autocast not enabled inside the region"
        if _torch_fn(op, module) is not None:
            fn = _bp_fn(op, module)
            if fn is None:
                return f"no backprop counterpart of {module}.{op}"
            try:
                outputs.append(("function", fn(*bargs, **bkw)))
            except Exception as e:  # noqa: BLE001 - reported as the disagreement
                return f"function raises {type(e).__name__}: {str(e)[:150]}"
        if hasattr(torch.Tensor, op):
            if not hasattr(bp.Tensor, op):
                return f"no Tensor.{op}"
            try:
                outputs.append(("method", getattr(bargs[0], op)(*bargs[1:], **bkw)))
            except Exception as e:  # noqa: BLE001
                return f"method raises {type(e).__name__}: {str(e)[:150]}"
        for kind, got in outputs:
            if isinstance(got, bp.Tensor) and got.dtype != _dt(out_type):
                return f"{kind}: dtype {got.dtype}, the list expects {out_type}"
            problem = _values(expected, got, amp)
            if problem:
                return f"{kind}: {problem}"
        if len(outputs) == 2 and not _same(outputs[0][1], outputs[1][1]):
            return "the function and the method differ"
        with bp.autocast("cpu", enabled=False):  # the control: cast by hand, autocast off
            if bp.is_autocast_enabled("cpu"):
                return "autocast(enabled=False) left it enabled"
            fn = _bp_fn(op, module)
            if fn is not None:
                control = fn(*_cast(bargs, _dt(run_as)), **bkw)
            else:
                control = getattr(bargs[0].to(_dt(run_as)), op)(*_cast(bargs[1:], _dt(run_as)), **bkw)
        if not _same(outputs[0][1], control):
            return f"{outputs[0][0]}: not bit for bit the control (the arguments cast to {run_as} by hand)"
        if not bp.is_autocast_enabled("cpu"):
            return "autocast not restored after a nested disabled region"
    if bp.is_autocast_enabled("cpu"):
        return "autocast still enabled after the region"
    return None


def _id(case: tuple) -> str:
    return f"{case[0]}:{case[1]}:{str(case[5]).removeprefix('torch.')}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_autocast_list(case):
    problem = check(case)
    key = f"{case[0]}:{case[1]}"
    if key in KNOWN:
        assert problem is not None, f"{key} now agrees with torch: remove it from KNOWN ({KNOWN[key]})"
        return
    assert problem is None, f"{_id(case)}: {problem}"


def test_known_entries_are_listed():
    keys = {f"{c[0]}:{c[1]}" for c in CASES}
    assert set(KNOWN) <= keys, set(KNOWN) - keys


def test_top_level_losses_default_to_no_reduction():
    """torch.<loss>'s ATen binding reads its ``reduction=Mean`` default as 0: elementwise, as torch's."""
    torch.manual_seed(1)
    a, b, t = torch.randn(4, 3), torch.rand(4, 3), torch.ones(4)
    pairs = [
        ("kl_div", (a, b)),
        ("hinge_embedding_loss", (a, torch.ones(4, 3))),
        ("binary_cross_entropy_with_logits", (a, b)),
        ("margin_ranking_loss", (a, b, torch.ones(3))),  # (broadcast: the top-level function checks no dimensions)
        ("cosine_embedding_loss", (a, b, t)),
        ("triplet_margin_loss", (a, b, b.flip(0))),
    ]
    for name, args in pairs:
        expected, got = getattr(torch, name)(*args), getattr(bp, name)(*H.to_bp(args))
        assert H.compare(name, expected, got, 1e-5, 1e-6) is None, name
        expected, got = getattr(torch, name)(*args, reduction=1), getattr(bp, name)(*H.to_bp(args), reduction=1)
        assert H.compare(name, expected, got, 1e-5, 1e-6) is None, name


def test_conv_tbc():
    torch.manual_seed(2)
    x, w, b = torch.randn(10, 7, 3, requires_grad=True), torch.randn(5, 3, 4), torch.randn(4)
    for pad in (0, 2):
        expected = torch.conv_tbc(x, w, b, pad)
        bx = H.to_bp(x)
        got = bp.conv_tbc(bx, *H.to_bp((w, b)), pad)
        assert H.compare("conv_tbc", expected, got, 1e-5, 1e-5) is None
        g = torch.randn_like(expected)
        (tg,) = torch.autograd.grad(expected, x, g)
        (bg,) = bp.autograd.grad(got, bx, H.to_bp(g))
        assert H.compare("grad", tg, bg, 1e-5, 1e-5) is None
    for bad in ((x[0], w, b), (x, w[:, :2], b), (x, w, b[:2])):
        with pytest.raises(RuntimeError) as te:
            torch.conv_tbc(*bad)
        with pytest.raises(RuntimeError) as be:
            bp.conv_tbc(*H.to_bp(tuple(v.detach() for v in bad)))
        assert str(te.value) == str(be.value)


def test_half_kernels_under_autocast_stay_in_autocast():
    """addmm's float32-then-round path runs with autocast suspended and restores it (both device types' flags)."""
    a = bp.randn(4, 4)
    with bp.autocast("cpu", dtype=bp.bfloat16):
        y = bp.addmm(a, a, a)
        assert y.dtype == bp.bfloat16 and bp.is_autocast_enabled("cpu")
        z = F.conv_transpose1d(bp.randn(2, 4, 5), bp.randn(4, 3, 2))
        assert z.dtype == bp.bfloat16 and bp.is_autocast_enabled("cpu")
    assert not bp.is_autocast_enabled("cpu")


POOLS_AND_PADS = {
    "avg_pool3d": (3, lambda m, x: m.avg_pool3d(x, 2)),
    "avg_pool2d": (2, lambda m, x: m.avg_pool2d(x, 2)),
    "max_pool3d": (3, lambda m, x: m.max_pool3d(x, 2)),
    "max_pool3d_with_indices": (3, lambda m, x: m.max_pool3d(x, 2, return_indices=True)),
    "adaptive_avg_pool3d": (3, lambda m, x: m.adaptive_avg_pool3d(x, 2)),
    "adaptive_avg_pool2d": (2, lambda m, x: m.adaptive_avg_pool2d(x, 4)),
    "adaptive_max_pool3d": (3, lambda m, x: m.adaptive_max_pool3d(x, 2, return_indices=True)),
    "reflect1d": (1, lambda m, x: m.pad(x, (2, 2), mode="reflect")),
    "reflect2d": (2, lambda m, x: m.pad(x, (2, 2, 2, 2), mode="reflect")),
    "reflect3d": (3, lambda m, x: m.pad(x, (1,) * 6, mode="reflect")),
    "replicate1d": (1, lambda m, x: m.pad(x, (2, 2), mode="replicate")),
    "replicate3d": (3, lambda m, x: m.pad(x, (1,) * 6, mode="replicate")),
    "circular2d": (2, lambda m, x: m.pad(x, (1,) * 4, mode="circular")),
}


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("name", sorted(POOLS_AND_PADS))
def test_pools_and_pads_under_autocast(name, dtype):
    """The 3-d pools and the reflection/replication pads run in float32 under torch's CPU autocast (beside the
    lists' avg_pool3d and reflection_pad1d); the others keep the input's dtype, float32 included."""
    n, fn = POOLS_AND_PADS[name]
    torch.manual_seed(3)
    x = torch.randn(2, 3, *(6,) * n).to(getattr(torch, dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = fn(torch.nn.functional, x)
    with bp.autocast("cpu", dtype=bp.bfloat16):
        got = fn(F, H.to_bp(x))
    assert _values(expected, got, torch.bfloat16) is None
