"""Differential fuzzer of bp.nn / bp.nn.functional against torch: the same modules and calls built with
many parameter combinations (fixed seed), torch's parameters loaded into ours; outputs (values, dtypes,
shapes), gradients w.r.t. inputs and parameters, buffers after forward in train and eval, state_dict
keys and shapes are compared."""

# ruff: noqa: B023 - lambdas built in loops are called at once

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop as bp
import backprop.nn as nn
import backprop.nn.functional as F

torch = pytest.importorskip("torch", reason="torch not installed: the torch cross-checks need it")
tnn = torch.nn
TF = torch.nn.functional

TOL = {"float64": (1e-9, 1e-11), "float32": (2e-4, 2e-5)}


class G:
    """An input that requires grad (its gradient is compared)."""

    def __init__(self, a):
        self.a = a


def _to(obj, lib):
    """Convert a nested structure of numpy arrays / G markers into lib tensors; returns (obj, leaves)."""
    leaves = []

    def go(o):
        if isinstance(o, G):
            t = lib.tensor(o.a, requires_grad=True)
            leaves.append(t)
            return t
        if isinstance(o, np.ndarray):
            return lib.tensor(o)
        if isinstance(o, torch.dtype) and lib is bp:
            return getattr(bp, str(o).removeprefix("torch."))
        if isinstance(o, tuple):
            return tuple(go(x) for x in o)
        if isinstance(o, list):
            return [go(x) for x in o]
        if isinstance(o, dict):
            return {k: go(v) for k, v in o.items()}
        return o

    return go(obj), leaves


def _flat(o):
    """The tensors of an output (tuples, PackedSequence, None skipped) in order."""
    if o is None or isinstance(o, (int, float, bool)):
        return []
    if hasattr(o, "batch_sizes") and hasattr(o, "data"):
        return [o.data, o.batch_sizes] + _flat(o.sorted_indices) + _flat(o.unsorted_indices)
    if isinstance(o, (tuple, list)):
        return [t for x in o for t in _flat(x)]
    return [o]


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _dt(t):
    return str(t.dtype).removeprefix("torch.")


def _tol(dtype, scale):
    r, a = TOL.get(dtype, (0, 0))
    return r * scale, a * scale


def _cmp_out(os_, ts, what, scale):
    assert len(os_) == len(ts), f"{what}: {len(os_)} outputs vs torch's {len(ts)}"
    for i, (o, t) in enumerate(zip(os_, ts)):
        assert tuple(o.shape) == tuple(t.shape), f"{what}[{i}] shape {tuple(o.shape)} vs torch {tuple(t.shape)}"
        assert _dt(o) == _dt(t), f"{what}[{i}] dtype {_dt(o)} vs torch {_dt(t)}"
        rtol, atol = _tol(_dt(t), scale)
        np.testing.assert_allclose(_np(o), _np(t), rtol=rtol, atol=atol, err_msg=f"{what}[{i}] values")


def _backward(os_, ts, lib_o, lib_t):
    """sum(out_i * c_i) over floating outputs that carry a graph, for fixed random c_i."""
    rng = np.random.default_rng(7)
    lo, lt = 0, 0
    any_ = False
    for o, t in zip(os_, ts):
        if not (t.is_floating_point() and t.requires_grad):
            continue
        c = rng.standard_normal(tuple(t.shape)).astype(_dt(t))
        lo = lo + (o * lib_o.tensor(c)).sum()
        lt = lt + (t * lib_t.tensor(c)).sum()
        any_ = True
    if any_:
        lo.backward()
        lt.backward()
    return any_


def _cmp_grads(ours, theirs, what, scale, mask=None):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is None:
            assert a.grad is None or not np.any(_np(a.grad)), f"{what}[{i}]: torch has no grad, ours has"
            continue
        assert a.grad is not None, f"{what}[{i}]: ours has no grad"
        ga, gb = _np(a.grad), _np(b.grad)
        assert ga.shape == gb.shape, f"{what}[{i}] grad shape"
        rtol, atol = _tol(_dt(b), scale * 10)
        np.testing.assert_allclose(ga, gb, rtol=rtol, atol=atol, err_msg=f"{what}[{i}] grad")


def check_fn(name, args, kwargs=None, scale=1.0, ours=None):
    """Call F.<name> (or the functions given) with the same arguments in both libraries."""
    kwargs = kwargs or {}
    fo = ours or _resolve(bp, name)
    ft = _resolve(torch, name)
    ao, lo = _to(args, bp)
    at, lt = _to(args, torch)
    ko, _ = _to(kwargs, bp)
    kt, _ = _to(kwargs, torch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = ft(*at, **kt)
        o = fo(*ao, **ko)
    os_, ts = _flat(o), _flat(t)
    _cmp_out(os_, ts, name, scale)
    if _backward(os_, ts, bp, torch):
        _cmp_grads(lo, lt, name + " input", scale)
    return o, t


def _resolve(lib, name):
    obj = lib
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _sd_np(m):
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


_SIMPLE = (int, float, str, bool, tuple, type(None))


def _cmp_attrs(mo, mt, name):
    """The module's plain public attributes (kernel_size, padding, eps, ...) and its repr."""
    for k, v in vars(mt).items():
        if k.startswith("_") or not isinstance(v, _SIMPLE) or k in ("training",):
            continue
        if isinstance(v, tuple) and not all(isinstance(e, _SIMPLE) for e in v):
            continue
        assert hasattr(mo, k), f"{name}: no attribute {k!r} (torch: {v!r})"
        got = getattr(mo, k)
        assert got == v and type(got) is type(v), f"{name}.{k} = {got!r} vs torch {v!r}"
    assert repr(mo) == repr(mt), f"{name} repr {mo!r} vs torch {mt!r}"


def check_module(
    name, ctor_args=(), ctor_kwargs=None, inputs=(), scale=1.0, modes=("train", "eval"), steps=1, double=True
):
    """Build nn.<name> in both, load torch's state into ours, compare state_dict keys/shapes, then run
    forward/backward in each mode (``steps`` times) comparing outputs, input/parameter grads, buffers."""
    ctor_kwargs = ctor_kwargs or {}
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = _resolve(torch.nn, name)(*ctor_args, **_to(ctor_kwargs, torch)[0])
        mo = _resolve(nn, name)(*ctor_args, **_to(ctor_kwargs, bp)[0])
    if double:
        mt = mt.double()
        mo = mo.double()
    sdt, sdo = mt.state_dict(), mo.state_dict()
    assert list(sdo) == list(sdt), f"{name} state_dict keys {list(sdo)} vs torch {list(sdt)}"
    for k in sdt:
        assert tuple(sdo[k].shape) == tuple(sdt[k].shape), f"{name} state_dict[{k}] shape"
        assert _dt(sdo[k]) == _dt(sdt[k]), f"{name} state_dict[{k}] dtype {_dt(sdo[k])} vs {_dt(sdt[k])}"
    mo.load_state_dict({k: bp.tensor(v) for k, v in _sd_np(mt).items()})
    _cmp_attrs(mo, mt, name)
    for mode in modes:
        mt.train(mode == "train")
        mo.train(mode == "train")
        for step in range(steps):
            what = f"{name} {mode} step {step}"
            mt.zero_grad()
            mo.zero_grad()
            ao, lo = _to(inputs, bp)
            at, lt = _to(inputs, torch)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = mt(*at)
                o = mo(*ao)
            os_, ts = _flat(o), _flat(t)
            _cmp_out(os_, ts, what, scale)
            if _backward(os_, ts, bp, torch):
                _cmp_grads(lo, lt, what + " input", scale)
                po = dict(mo.named_parameters())
                pt = dict(mt.named_parameters())
                assert list(po) == list(pt)
                _cmp_grads([po[k] for k in pt], list(pt.values()), what + " params " + str(list(pt)), scale)
            so, st = mo.state_dict(), mt.state_dict()  # parameters changed in place (max_norm) too
            _cmp_out([so[k] for k in st], list(st.values()), what + " state_dict " + str(list(st)), scale)
            bo, bt = dict(mo.named_buffers()), dict(mt.named_buffers())
            assert list(bo) == list(bt), f"{what} buffers {list(bo)} vs {list(bt)}"
            _cmp_out([bo[k] for k in bt], list(bt.values()), what + " buffers " + str(list(bt)), scale)
    return mo, mt


# ---------------------------------------------------------------- case generators

RNG = np.random.default_rng(20240611)
CASES: list = []


def case(cid):
    def deco(fn):
        CASES.append(pytest.param(fn, id=cid))
        return fn

    return deco


def _add(cid, fn):
    CASES.append(pytest.param(fn, id=cid))


def randn(*shape, dtype="float64"):
    return np.asarray(RNG.standard_normal(shape), dtype=dtype)


def _conv_cases():
    for i in range(36):
        d = 1 + i % 3
        transpose = i % 2 == 1
        groups = int(RNG.choice([1, 2]))
        cin, cout = 2 * groups, 2 * groups * int(RNG.integers(1, 3))
        k = tuple(int(x) for x in RNG.integers(1, 4, d))
        stride = tuple(int(x) for x in RNG.integers(1, 3, d))
        dil = tuple(int(x) for x in RNG.integers(1, 3, d))
        kw = {"stride": stride, "dilation": dil, "groups": groups, "bias": bool(RNG.integers(0, 2))}
        if transpose:
            kw["padding"] = tuple(int(x) for x in RNG.integers(0, 2, d))
            kw["output_padding"] = tuple(int(RNG.integers(0, min(s, dl))) for s, dl in zip(stride, dil))
        else:
            pad = RNG.choice(["int", "tuple", "same", "valid"])
            if pad == "same":
                kw["stride"] = 1
                kw["padding"] = "same"
            elif pad == "valid":
                kw["padding"] = "valid"
            elif pad == "int":
                kw["padding"] = int(RNG.integers(0, 3))
            else:
                kw["padding"] = tuple(int(x) for x in RNG.integers(0, 3, d))
            kw["padding_mode"] = str(RNG.choice(["zeros", "reflect", "replicate", "circular"]))
        unbatched = bool(RNG.integers(0, 4) == 0)
        spatial = tuple(int(x) for x in RNG.integers(6, 9, d)) if d < 3 else (5, 5, 5)
        shape = (cin, *spatial) if unbatched else (2, cin, *spatial)
        dtype = "float32" if i % 5 == 4 else "float64"
        name = f"Conv{'Transpose' if transpose else ''}{d}d"
        x = randn(*shape, dtype=dtype)
        _add(
            f"{name}-{i}",
            lambda name=name, cin=cin, cout=cout, k=k, kw=kw, x=x, dtype=dtype: check_module(
                name, (cin, cout, k), kw, (G(x),), double=dtype == "float64", modes=("train",)
            ),
        )


_conv_cases()


def _refused(fn, *args, **kw):
    with pytest.raises(NotImplementedError):
        fn(*args, **kw)


def _pool_cases():
    for i in range(48):
        d = 1 + i % 3
        kind = ["Max", "Avg", "LP", "AdaptiveMax", "AdaptiveAvg", "MaxUnpool"][(i // 3) % 6]
        if kind == "LP" and d == 3:
            kind = "Max"
        spatial = tuple(int(x) for x in RNG.integers(5, 9, d)) if d < 3 else (5, 6, 5)
        unbatched = bool(RNG.integers(0, 4) == 0)
        shape = (3, *spatial) if unbatched else (2, 3, *spatial)
        k = tuple(int(x) for x in RNG.integers(2, 4, d))
        stride = tuple(int(x) for x in RNG.integers(1, 4, d)) if RNG.integers(0, 3) else None
        pad = tuple(int(RNG.integers(0, kk // 2 + 1)) for kk in k)
        ceil = bool(RNG.integers(0, 2))
        x = randn(*shape)
        x = x + np.arange(x.size).reshape(x.shape) * 1e-3  # no ties for max
        if kind == "Max":
            kw = {
                "stride": stride,
                "padding": pad,
                "dilation": tuple(int(v) for v in RNG.integers(1, 3, d)),
                "ceil_mode": ceil,
                "return_indices": bool(RNG.integers(0, 2)),
            }
            args = (k,)
        elif kind == "Avg":
            kw = {"stride": stride, "padding": pad, "ceil_mode": ceil, "count_include_pad": bool(RNG.integers(0, 2))}
            if d > 1 and RNG.integers(0, 2):
                kw["divisor_override"] = int(RNG.integers(1, 5))
            args = (k,)
        elif kind == "LP":
            kw = {"stride": stride, "ceil_mode": ceil}
            args = (float(RNG.choice([1.0, 2.0, 3.0])), k if d > 1 else k[0])
            if d == 1 and stride is not None:
                kw["stride"] = stride[0]
            x = np.abs(x) + 0.1
        elif kind.startswith("Adaptive"):
            out = tuple(int(v) if RNG.integers(0, 4) else None for v in RNG.integers(1, 6, d))
            args = (out if d > 1 else out[0] or 3,)
            kw = {"return_indices": bool(RNG.integers(0, 2))} if kind == "AdaptiveMax" else {}
        else:
            kw = {"stride": stride, "padding": pad}
            args = (k,)

            def unpool(d=d, k=k, kw=kw, x=x):
                ot = getattr(TF, f"max_pool{d}d")(torch.tensor(x), k, return_indices=True, **kw)
                oo = getattr(F, f"max_pool{d}d")(bp.tensor(x), k, return_indices=True, **kw)
                _cmp_out(list(oo), list(ot), "max_pool", 1)
                try:
                    TF.__dict__[f"max_unpool{d}d"](ot[0], ot[1], k, **kw)
                except RuntimeError:  # torch refuses indices beyond the default output: so do we
                    with pytest.raises((RuntimeError, ValueError, IndexError)):
                        getattr(F, f"max_unpool{d}d")(oo[0], oo[1], k, **kw)
                    return
                check_module(f"MaxUnpool{d}d", (k,), kw, (G(ot[0].numpy()), ot[1].numpy()))
                st = kw["stride"] or k
                size = [(n - 1) * s - 2 * p + kk for n, s, p, kk in zip(ot[0].shape[-d:], st, kw["padding"], k)]
                size[-1] += 1 if st[-1] > 1 else 0
                check_fn(
                    f"nn.functional.max_unpool{d}d", (G(ot[0].numpy()), ot[1].numpy(), k), {**kw, "output_size": size}
                )

            _add(f"MaxUnpool{d}d-{i}", unpool)
            continue
        name = f"{kind}Pool{d}d"
        if kind == "LP" and kw.get("stride") is None:
            kw.pop("stride")
        _add(f"{name}-{i}", lambda name=name, args=args, kw=kw, x=x: check_module(name, args, kw, (G(x),)))


_pool_cases()


def _interp_cases():
    modes = {
        1: ["nearest", "nearest-exact", "linear", "area"],
        2: ["nearest", "nearest-exact", "bilinear", "bicubic", "area"],
        3: ["nearest", "nearest-exact", "trilinear", "area"],
    }
    for i in range(60):
        d = 1 + i % 3
        mode = modes[d][(i // 3) % len(modes[d])]
        spatial = tuple(int(x) for x in RNG.integers(3, 7, d))
        x = randn(2, 2, *spatial)
        kw = {"mode": mode}
        if RNG.integers(0, 2):
            sf = [float(RNG.choice([0.5, 0.7, 1.5, 2.0, 2.3, 3.0])) for _ in range(d)]
            kw["scale_factor"] = sf if RNG.integers(0, 2) else sf[0]
            if RNG.integers(0, 2):
                kw["recompute_scale_factor"] = bool(RNG.integers(0, 2))
        else:
            sz = [int(v) for v in RNG.integers(1, 10, d)]
            kw["size"] = sz if RNG.integers(0, 2) else sz[0]
        if mode in ("linear", "bilinear", "bicubic", "trilinear"):
            kw["align_corners"] = bool(RNG.integers(0, 2))
            sz, sf = kw.get("size"), kw.get("scale_factor")
            width = (sz if isinstance(sz, int) else sz[-1]) if sz is not None else None
            if sf is not None:
                width = int(spatial[-1] * (sf if isinstance(sf, float) else sf[-1]))
            # torch 2.13's CPU antialias kernels repeat one value down a contiguous output of width 1 (a bug)
            if mode in ("bilinear", "bicubic") and RNG.integers(0, 2) and width != 1:
                kw["antialias"] = True
        _add(f"interpolate-{mode}-{d}d-{i}", lambda x=x, kw=kw: check_fn("nn.functional.interpolate", (G(x),), kw))
        if i % 4 == 0 and mode != "area" and not kw.get("antialias") and "recompute_scale_factor" not in kw:
            kw2 = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
            if not isinstance(kw2.get("scale_factor"), tuple):
                _add(f"Upsample-{mode}-{d}d-{i}", lambda x=x, kw=kw2: check_module("Upsample", (), kw, (G(x),)))


_interp_cases()


def _pad_cases():
    for i in range(30):
        mode = ["constant", "reflect", "replicate", "circular"][i % 4]
        nd = 1 + (i // 4) % 3
        spatial = tuple(int(v) for v in RNG.integers(3, 6, nd))
        batch = (2, 3) if RNG.integers(0, 3) else (3,)
        if mode == "constant":
            batch = tuple(int(v) for v in RNG.integers(1, 4, int(RNG.integers(0, 3))))
        x = randn(*batch, *spatial)
        hi = 3 if mode != "reflect" else 2
        pad = tuple(int(v) for v in RNG.integers(-1 if mode in ("constant", "circular") else 0, hi, 2 * nd))
        kw = {"mode": mode}
        if mode == "constant" and RNG.integers(0, 2):
            kw["value"] = 1.5
        _add(f"pad-{mode}-{nd}-{i}", lambda x=x, pad=pad, kw=kw: check_fn("nn.functional.pad", (G(x), pad), kw))


_pad_cases()


def _grid_cases():
    for i in range(24):
        d = 2 if i % 3 else 3
        mode = ["bilinear", "nearest", "bicubic"][i % 3] if d == 2 else ["bilinear", "nearest"][i % 2]
        pm = ["zeros", "border", "reflection"][(i // 2) % 3]
        ac = bool(RNG.integers(0, 2))
        spatial = tuple(int(v) for v in RNG.integers(3, 6, d))
        x = randn(2, 2, *spatial)
        theta = np.eye(d, d + 1)[None].repeat(2, 0) + 0.3 * randn(2, d, d + 1)
        size = (2, 2, *(int(v) for v in RNG.integers(2, 6, d)))

        def run(x=x, theta=theta, size=size, mode=mode, pm=pm, ac=ac):
            check_fn("nn.functional.affine_grid", (G(theta), size), {"align_corners": ac})
            grid = TF.affine_grid(torch.tensor(theta), size, align_corners=ac).numpy() * 1.2
            check_fn(
                "nn.functional.grid_sample",
                (G(x), G(grid)),
                {"mode": mode, "padding_mode": pm, "align_corners": ac},
                scale=10,
            )

        _add(f"grid_sample-{d}d-{mode}-{pm}-{i}", run)


_grid_cases()


def _norm_cases():
    for i, (name, c, shape) in enumerate(
        [
            ("BatchNorm1d", 3, (4, 3)),
            ("BatchNorm1d", 3, (4, 3, 5)),
            ("BatchNorm2d", 3, (2, 3, 4, 2)),
            ("BatchNorm3d", 2, (2, 2, 3, 2, 2)),
            ("BatchNorm1d", 3, (5, 3)),
            ("BatchNorm2d", 2, (3, 2, 2, 3)),
            ("InstanceNorm1d", 3, (2, 3, 6)),
            ("InstanceNorm1d", 3, (3, 6)),
            ("InstanceNorm2d", 2, (2, 2, 3, 4)),
            ("InstanceNorm3d", 2, (2, 2, 3, 2, 2)),
            ("InstanceNorm2d", 3, (3, 4, 3)),
        ]
    ):
        for j in range(3):
            kw = {
                "momentum": [0.1, None, 0.3][j],
                "affine": bool((i + j) % 2 == 0),
                "track_running_stats": bool(j != 2 or name.startswith("Instance"))
                if name.startswith("Batch")
                else bool(j % 2),
            }
            if j == 2:
                kw["eps"] = 1e-3
            if name.startswith("Instance") and kw["momentum"] is None:
                kw["momentum"] = 0.2
            x = randn(*shape) * 2 + 1
            _add(f"{name}-{i}-{j}", lambda name=name, c=c, kw=kw, x=x: check_module(name, (c,), kw, (G(x),), steps=2))
    for i in range(8):
        shape = tuple(int(v) for v in RNG.integers(2, 5, 3))
        ns = shape[-1 - int(RNG.integers(0, 2)) :]
        kw = {"elementwise_affine": bool(i % 4 != 3), "bias": bool(i % 2), "eps": [1e-5, 1e-3][i % 2]}
        x = randn(*shape)
        _add(f"LayerNorm-{i}", lambda ns=ns, kw=kw, x=x: check_module("LayerNorm", (list(ns),), kw, (G(x),)))
        kw2 = {"elementwise_affine": bool(i % 4 != 3), "eps": [None, 1e-3, 1e-6][i % 3]}
        _add(f"RMSNorm-{i}", lambda ns=ns, kw=kw2, x=x: check_module("RMSNorm", (list(ns),), kw, (G(x),)))
        x32 = x.astype("float32")
        _add(
            f"RMSNorm32-{i}",
            lambda ns=ns, kw=kw2, x=x32: check_module("RMSNorm", (list(ns),), kw, (G(x),), double=False),
        )
    for i, (g, c, shape) in enumerate(
        [(2, 4, (3, 4)), (1, 3, (2, 3, 5)), (3, 6, (2, 6, 2, 3)), (6, 6, (2, 6, 4)), (2, 4, (4, 4, 2))]
    ):
        x = randn(*shape)
        _add(
            f"GroupNorm-{i}",
            lambda g=g, c=c, x=x, i=i: check_module("GroupNorm", (g, c), {"affine": i % 2 == 0}, (G(x),)),
        )
    for i in range(6):
        size = int(RNG.integers(1, 6))
        kw = {"alpha": float(RNG.uniform(1e-4, 1)), "beta": float(RNG.uniform(0.5, 1)), "k": float(RNG.uniform(0.5, 2))}
        shape = [(2, 5, 4), (2, 5, 3, 3), (1, 6, 2, 2, 3), (2, 7, 1), (2, 4, 3), (2, 5, 3, 3)][i]
        x = randn(*shape)
        _add(
            f"LocalResponseNorm-{i}",
            lambda size=size, kw=kw, x=x: check_module("LocalResponseNorm", (size,), kw, (G(x),)),
        )


_norm_cases()


def _act_cases():
    mods = [
        ("GELU", (), {"approximate": "tanh"}),
        ("GELU", (), {}),
        ("Softplus", (), {"beta": 2.0, "threshold": 1.0}),
        ("Softplus", (), {"beta": 0.5, "threshold": 3}),
        ("Softplus", (), {"beta": -1.0}),
        ("ELU", (), {"alpha": 0.7}),
        ("CELU", (), {"alpha": 1.7}),
        ("SELU", (), {}),
        ("Hardtanh", (-0.5, 2.0), {}),
        ("Hardtanh", (), {"min_val": -2.0, "max_val": 0.3}),
        ("RReLU", (0.1, 0.4), {}),
        ("PReLU", (), {}),
        ("PReLU", (3,), {"init": 0.1}),
        ("Softmax", (), {}),
        ("LogSoftmax", (), {}),
        ("Softmin", (), {}),
        ("Softmax", (1,), {}),
        ("Threshold", (0.2, -1.5), {}),
        ("GLU", (), {}),
        ("GLU", (1,), {}),
        ("LeakyReLU", (0.2,), {}),
        ("Hardshrink", (0.3,), {}),
        ("Softshrink", (0.4,), {}),
        ("Hardsigmoid", (), {}),
        ("Hardswish", (), {}),
        ("Mish", (), {}),
        ("SiLU", (), {}),
        ("ReLU6", (), {}),
        ("LogSigmoid", (), {}),
        ("Tanhshrink", (), {}),
        ("Softsign", (), {}),
        ("Softmax2d", (), {}),
        ("ELU", (), {"alpha": 0.7, "inplace": True}),
        ("Dropout", (0.3,), {}),
        ("AlphaDropout", (0.3,), {}),
        ("Dropout1d", (0.3,), {}),
        ("Dropout2d", (0.3,), {}),
        ("Dropout3d", (0.3,), {}),
        ("FeatureAlphaDropout", (0.3,), {}),
    ]
    for name, a, kw in mods:
        for shape in [(2, 3), (2, 3, 4), (0, 3), (2, 3, 2, 2), ()]:
            if name == "Softmax2d" and len(shape) not in (3, 4):
                continue
            if name.startswith("GLU") and (
                len(shape) == 0 or shape[-1 if not a else a[0]] % 2 if len(shape) > (a[0] if a else 0) else True
            ):
                continue
            if name == "PReLU" and a and (len(shape) < 2 or shape[1] != 3):
                continue
            if name.startswith("Dropout") and name[-2:] in ("1d", "2d", "3d") and len(shape) < 2:
                continue
            if name in ("Dropout3d",) and len(shape) < 4 or name == "Dropout1d" and len(shape) > 3:
                continue
            if name == "Dropout2d" and len(shape) < 3:
                continue
            for dtype in ["float64", "float32"] if len(shape) == 3 else ["float64"]:
                x = np.asarray(randn(*shape, dtype=dtype) * 2)
                inp = (x,) if kw.get("inplace") else (G(x),)
                modes = ("eval",) if "Dropout" in name or name == "RReLU" else ("train",)
                if name == "Softmax" and a and len(shape) < 2:
                    continue
                # torch's float64 CELU and Hardsigmoid gradients carry float32 roundings (1/6 and
                # 1/alpha rounded): ours are the exact derivatives, equal to within 1e-7
                sc = 1e2 if name in ("CELU", "Hardsigmoid") else 1.0
                _add(
                    f"{name}-{a}-{kw}-{shape}-{dtype}",
                    lambda name=name, a=a, kw=kw, inp=inp, modes=modes, dtype=dtype, sc=sc: check_module(
                        name, a, kw, inp, modes=modes, double=dtype == "float64", scale=sc
                    ),
                )


_act_cases()


def _fn_act_cases():
    x = randn(2, 3, 4)
    for name, a, kw in [
        ("softmax", (), {"dim": None}),
        ("log_softmax", (), {"dim": None}),
        ("softmin", (), {"dim": None}),
        ("softmax", (), {"dim": -1, "dtype": torch.float32}),
        ("log_softmax", (1,), {"dtype": torch.float32}),
        ("gelu", (), {"approximate": "tanh"}),
        ("softplus", (), {"beta": 3, "threshold": 2}),
        ("elu", (0.3,), {}),
        ("celu", (), {"alpha": 2.0}),
        ("hardtanh", (-0.1, 0.2), {}),
        ("rrelu", (0.1, 0.3), {"training": False}),
        ("threshold", (0.1, 20.0), {}),
        ("glu", (), {"dim": 2}),
        ("normalize", (), {"p": 1.0, "dim": 0}),
        ("normalize", (), {"p": 3.0, "dim": -1, "eps": 1e-3}),
        ("leaky_relu", (0.3,), {}),
        ("relu6", (), {}),
        ("hardsigmoid", (), {}),
        ("silu", (), {}),
        ("mish", (), {}),
        ("logsigmoid", (), {}),
        ("softsign", (), {}),
        ("tanhshrink", (), {}),
        ("gumbel_softmax", (), {"tau": 0.5}) if False else ("sigmoid", (), {}),
        ("dropout", (0.5,), {"training": False}),
        ("alpha_dropout", (0.5,), {"training": False}),
        ("feature_alpha_dropout", (0.5,), {"training": False}),
        ("dropout1d", (0.5,), {"training": False}),
        ("dropout2d", (0.5,), {"training": False}),
        ("dropout3d", (0.5,), {"training": False}),
    ]:
        for shape in [(3,), (2, 3), (2, 3, 4), (2, 2, 3, 4)]:
            if name.startswith("dropout") and name[-2:] in ("1d", "2d", "3d"):
                if name == "dropout1d" and len(shape) not in (2, 3) or name == "dropout2d" and len(shape) not in (3, 4):
                    continue
                if name == "dropout3d" and len(shape) not in (4, 5):
                    continue
            if name == "glu" and len(shape) != 3:
                continue
            xx = randn(*shape)
            if name == "log_softmax" and a and len(shape) < 2:
                continue
            sc = 1e2 if name in ("celu", "hardsigmoid") else 1e4 if "dtype" in kw else 1.0
            _add(
                f"F.{name}-{kw}-{shape}",
                lambda name=name, a=a, kw=kw, xx=xx, sc=sc: check_fn(
                    f"nn.functional.{name}", (G(xx), *a), kw, scale=sc
                ),
            )
    del x


_fn_act_cases()


def _loss_cases():
    red = ["mean", "sum", "none"]
    C = 4
    for i in range(60):
        r = red[i % 3]
        nd = int(RNG.integers(0, 3))  # extra K dims
        kdims = tuple(int(v) for v in RNG.integers(1, 4, nd))
        unbatched = i % 7 == 6 and nd == 0
        shape = (C,) if unbatched else (3, C, *kdims)
        tshape = () if unbatched else (3, *kdims)
        x = randn(*shape)
        tgt = RNG.integers(0, C, tshape)
        ii = int(RNG.integers(-100, C)) if RNG.integers(0, 2) else -100
        if ii >= 0 and tgt.size:
            tgt.flat[0] = ii
        kw = {"reduction": r, "ignore_index": ii}
        w = RNG.uniform(0.5, 2, C)
        if RNG.integers(0, 2):
            kw["weight"] = w
        if RNG.integers(0, 2):
            kw["label_smoothing"] = float(RNG.choice([0.1, 0.3]))
        prob = bool(RNG.integers(0, 3) == 0)
        if prob:
            kw.pop("ignore_index")
            tgt = np.moveaxis(RNG.dirichlet(np.ones(C), tshape), -1, 0 if unbatched else 1).copy()
        dtype = "float32" if i % 4 == 3 else "float64"
        x = x.astype(dtype)
        if prob:
            tgt = tgt.astype(dtype)
        kwm = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        _add(
            f"CrossEntropyLoss-{i}-{r}",
            lambda kw=kwm, x=x, tgt=tgt, dtype=dtype: check_module(
                "CrossEntropyLoss", (), kw, (G(x), tgt), double=dtype == "float64"
            ),
        )
        if not prob:
            kwn = {k: v for k, v in kwm.items() if k != "label_smoothing"}
            _add(
                f"NLLLoss-{i}-{r}",
                lambda kw=kwn, x=x, tgt=tgt, dtype=dtype: check_module(
                    "NLLLoss", (), kw, (G(x), tgt), double=dtype == "float64"
                ),
            )
    for i in range(12):
        r = red[i % 3]
        shape = [(5,), (3, 4), (2, 3, 2)][i % 3]
        p = RNG.uniform(0.05, 0.95, shape)
        y = RNG.uniform(0, 1, shape) if i % 2 else RNG.integers(0, 2, shape).astype("float64")
        x = randn(*shape)
        w = RNG.uniform(0.5, 2, shape[-1:])
        pw = RNG.uniform(0.5, 3, shape[-1:])
        kwb = {"reduction": r, "weight": w} if i % 4 < 2 else {"reduction": r}
        _add(f"BCELoss-{i}", lambda p=p, y=y, kw=kwb: check_module("BCELoss", (), kw, (G(p), G(y))))
        kwl = dict(kwb, pos_weight=pw) if i % 3 else kwb
        _add(f"BCEWithLogitsLoss-{i}", lambda x=x, y=y, kw=kwl: check_module("BCEWithLogitsLoss", (), kw, (G(x), G(y))))
        y2 = randn(*shape)
        for name, extra in [
            ("MSELoss", {}),
            ("L1Loss", {}),
            ("SmoothL1Loss", {"beta": [1.0, 0.5, 0.0][i % 3]}),
            ("HuberLoss", {"delta": [1.0, 0.3, 2.0][i % 3]}),
            ("SoftMarginLoss", {}),
        ]:
            yy = np.sign(y2) if name == "SoftMarginLoss" else y2
            _add(
                f"{name}-{i}",
                lambda name=name, x=x, y=yy, kw=dict(extra, reduction=r): check_module(
                    name, (), kw, (G(x), G(y) if name != "SoftMarginLoss" else y)
                ),
            )
        lt = bool(i % 2)
        q = np.log(RNG.dirichlet(np.ones(shape[-1]), shape[:-1]))
        tt = q[::-1].copy() if lt else np.exp(q[::-1])
        rk = "batchmean" if i % 4 == 3 else r
        _add(
            f"KLDivLoss-{i}",
            lambda q=q, tt=tt, kw={"reduction": rk, "log_target": lt}: check_module("KLDivLoss", (), kw, (G(q), G(tt))),
        )
        li = bool(i % 2)
        lam = x if li else np.abs(x) + 0.1
        cnt = RNG.poisson(2, shape).astype("float64")
        kwp = {"log_input": li, "full": bool(i % 4 < 2), "reduction": r, "eps": 1e-6}
        _add(
            f"PoissonNLLLoss-{i}",
            lambda lam=lam, cnt=cnt, kw=kwp: check_module("PoissonNLLLoss", (), kw, (G(lam), cnt)),
        )
        var = RNG.uniform(0.1, 2, [shape, shape[:-1] + (1,), shape[:-1]][i % 3] if len(shape) > 1 else shape)
        kwg = {"full": bool(i % 2), "eps": 1e-6, "reduction": r}
        _add(
            f"GaussianNLLLoss-{i}",
            lambda x=x, y=y2, v=var, kw=kwg: check_module("GaussianNLLLoss", (), kw, (G(x), G(y), G(v))),
        )
    for i in range(9):
        r = red[i % 3]
        a, b = randn(5), randn(5)
        y = np.sign(randn(5))
        m = [0.0, 0.5, 1.0][i % 3]
        _add(
            f"MarginRankingLoss-{i}",
            lambda a=a, b=b, y=y, kw={"margin": m, "reduction": r}: check_module(
                "MarginRankingLoss", (), kw, (G(a), G(b), y)
            ),
        )
        xx = randn(4, 3) if i % 2 else randn(6)
        yy = np.sign(randn(*xx.shape))
        _add(
            f"HingeEmbeddingLoss-{i}",
            lambda x=xx, y=yy, kw={"margin": m + 0.5, "reduction": r}: check_module(
                "HingeEmbeddingLoss", (), kw, (G(x), y)
            ),
        )
        x1, x2 = (randn(4, 5), randn(4, 5)) if i % 2 else (randn(5), randn(5))
        yc = np.sign(randn(4)) if i % 2 else np.array(-1.0 if i % 4 == 0 else 1.0)
        _add(
            f"CosineEmbeddingLoss-{i}",
            lambda x1=x1, x2=x2, y=yc, kw={"margin": m - 0.3, "reduction": r}: check_module(
                "CosineEmbeddingLoss", (), kw, (G(x1), G(x2), y)
            ),
        )
        an, po, ne = randn(4, 3), randn(4, 3), randn(4, 3)
        kwt = {"margin": m + 0.5, "p": [2.0, 1.0, 3.0][i % 3], "swap": bool(i % 2), "reduction": r, "eps": 1e-6}
        _add(
            f"TripletMarginLoss-{i}",
            lambda a=an, p=po, n=ne, kw=kwt: check_module("TripletMarginLoss", (), kw, (G(a), G(p), G(n))),
        )
        xm = randn(4, 5) if i % 4 else randn(5)
        ym = RNG.integers(0, 5, xm.shape[:-1])
        kwm = {"p": 1 + i % 2, "margin": m + 0.5, "reduction": r}
        if i % 3 == 1:
            kwm["weight"] = RNG.uniform(0.5, 2, 5)
        _add(f"MultiMarginLoss-{i}", lambda x=xm, y=ym, kw=kwm: check_module("MultiMarginLoss", (), kw, (G(x), y)))
        yl = np.full(xm.shape, -1)
        for row in yl.reshape(-1, 5):
            k = int(RNG.integers(0, 5))
            row[:k] = RNG.permutation(5)[:k]
        _add(
            f"MultiLabelMarginLoss-{i}",
            lambda x=xm, y=yl, kw={"reduction": r}: check_module("MultiLabelMarginLoss", (), kw, (G(x), y)),
        )
        ys = RNG.integers(0, 2, xm.shape).astype("float64")
        kws = {"reduction": r, "weight": RNG.uniform(0.5, 2, 5)} if i % 2 else {"reduction": r}
        _add(
            f"MultiLabelSoftMarginLoss-{i}",
            lambda x=xm, y=ys, kw=kws: check_module("MultiLabelSoftMarginLoss", (), kw, (G(x), y)),
        )
    for i in range(6):
        r = red[i % 3]
        T_, N, Cc = 8, 3, 5
        lp = np.log(RNG.dirichlet(np.ones(Cc), (T_, N)))
        il = np.array([8, 7, 5])
        tl = np.array([3, 0, 2]) if i % 2 else np.array([3, 4, 2])
        tg = RNG.integers(1, Cc, (N, 4)) if i < 3 else RNG.integers(1, Cc, int(tl.sum()))
        kwc = {"reduction": r, "zero_infinity": bool(i % 2), "blank": 0}
        _add(
            f"CTCLoss-{i}",
            lambda lp=lp, tg=tg, il=il, tl=tl, kw=kwc: check_module("CTCLoss", (), kw, (G(lp), tg, il, tl)),
        )


_loss_cases()


def _embedding_cases():
    for i in range(10):
        kw = {}
        if i % 2:
            kw["padding_idx"] = int(RNG.integers(-6, 6))
        if i % 3 == 1:
            kw["max_norm"] = float(RNG.uniform(0.5, 2))
            kw["norm_type"] = float(RNG.choice([1.0, 2.0, 3.0]))
        if i % 4 == 3:
            kw["scale_grad_by_freq"] = True
        idx = RNG.integers(0, 6, [(5,), (2, 4), ()][i % 3])
        _add(f"Embedding-{i}", lambda kw=kw, idx=idx: check_module("Embedding", (6, 3), kw, (idx,), steps=2))
    for i in range(16):
        mode = ["sum", "mean", "max"][i % 3]
        kw = {"mode": mode}
        if i % 4 == 1:
            kw["padding_idx"] = int(RNG.integers(0, 7))
        if i % 5 == 2:
            kw["max_norm"] = 1.0
        if i % 2:
            idx = RNG.integers(0, 7, 9)
            offs = np.sort(RNG.choice(np.arange(1, 9), 2, replace=False))
            offs = np.concatenate([[0], offs])
            if i % 4 == 3:
                offs = np.concatenate([offs, [9]])
                kw["include_last_offset"] = True
            if i % 3 == 2 and i % 8 == 7:
                offs[1] = offs[2]  # an empty bag
            inp = [idx, offs]
        else:
            inp = [RNG.integers(0, 7, (3, 4))]
        if mode == "sum" and i % 2 == 0:
            psw = RNG.uniform(0.5, 2, inp[0].shape)
            inp = inp + [None] * (2 - len(inp)) + [G(psw)] if len(inp) == 2 else [inp[0], None, G(psw)]
        _add(f"EmbeddingBag-{i}-{mode}", lambda kw=kw, inp=inp: check_module("EmbeddingBag", (7, 3), kw, tuple(inp)))


_embedding_cases()


def _rnn_cases():
    for i in range(24):
        name = ["RNN", "LSTM", "GRU"][i % 3]
        L = int(RNG.integers(1, 3))
        bi = bool(RNG.integers(0, 2))
        bf = bool(RNG.integers(0, 2))
        kw = {"num_layers": L, "bidirectional": bi, "batch_first": bf, "bias": bool(i % 5 != 4)}
        if name == "RNN" and i % 2:
            kw["nonlinearity"] = "relu"
        H = 4
        if name == "LSTM" and i % 2:
            kw["proj_size"] = 2
        hout = kw.get("proj_size", H)
        D = 2 if bi else 1
        N, T_ = 3, 5
        unbatched = i % 6 == 5
        x = randn(T_, 3) if unbatched else (randn(N, T_, 3) if bf else randn(T_, N, 3))
        inp = [G(x)]
        if i % 4 >= 2:
            hs = (D * L, hout) if unbatched else (D * L, N, hout)
            h0 = G(randn(*hs))
            if name == "LSTM":
                inp.append((h0, G(randn(*hs[:-1], H))))
            else:
                inp.append(h0)
        dtype = "float32" if i % 7 == 3 else "float64"
        if dtype == "float32":
            inp = [G(x.astype(dtype))]
        _add(
            f"{name}-{i}",
            lambda name=name, kw=kw, inp=inp, dtype=dtype: check_module(
                name, (3, H), kw, tuple(inp), double=dtype == "float64"
            ),
        )
        if not unbatched:
            lengths = np.array([5, 2, 4]) if i % 2 else np.array([3, 5, 1])

            def packed(name=name, kw=kw, x=x, lengths=lengths, bf=bf, H=H):
                torch.manual_seed(0)
                mt = getattr(tnn, name)(3, H, **kw).double()
                mo = getattr(nn, name)(3, H, **kw).double()
                mo.load_state_dict({k: bp.tensor(v) for k, v in _sd_np(mt).items()})
                xt = torch.tensor(x, requires_grad=True)
                xo = bp.tensor(x, requires_grad=True)
                pt = tnn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
                po = nn.utils.rnn.pack_padded_sequence(xo, bp.tensor(lengths), batch_first=bf, enforce_sorted=False)
                _cmp_out(_flat(po), _flat(pt), "pack_padded_sequence", 1)
                ot, ht = mt(pt)
                oo, ho = mo(po)
                _cmp_out(_flat((oo, ho)), _flat((ot, ht)), f"packed {name}", 1)
                ut, lt = tnn.utils.rnn.pad_packed_sequence(ot, batch_first=bf, padding_value=-1.0, total_length=6)
                uo, lo = nn.utils.rnn.pad_packed_sequence(oo, batch_first=bf, padding_value=-1.0, total_length=6)
                _cmp_out([uo, lo], [ut, lt], "pad_packed_sequence", 1)
                _backward(_flat((uo, ho)), _flat((ut, ht)), bp, torch)
                _cmp_grads([xo], [xt], "packed input", 1)
                _cmp_grads(list(mo.parameters()), list(mt.parameters()), "packed params", 1)

            _add(f"packed-{name}-{i}", packed)
    for i in range(4):
        name = ["RNNCell", "LSTMCell", "GRUCell"][i % 3]
        x = randn(3, 4) if i < 3 else randn(4)
        _add(f"{name}-{i}", lambda name=name, x=x: check_module(name, (4, 5), {}, (G(x),)))


_rnn_cases()


def _attention_cases():
    for i in range(16):
        E, Hh = 8, [1, 2, 4][i % 3]
        kw = {"batch_first": bool(i % 2), "bias": i % 5 != 4}
        if i % 4 == 1:
            kw["kdim"], kw["vdim"] = 5, 6
        if i % 3 == 2:
            kw["add_bias_kv"] = True
        if i % 4 == 2:
            kw["add_zero_attn"] = True
        N, L, S = 2, 3, 4
        unbatched = i % 8 == 7
        kd, vd = kw.get("kdim", E), kw.get("vdim", E)

        def mk(n, d):
            if unbatched:
                return randn(n, d)
            return randn(N, n, d) if kw["batch_first"] else randn(n, N, d)

        q, k, v = mk(L, E), mk(S, kd), mk(S, vd)
        fkw = {"need_weights": bool(i % 3 != 1), "average_attn_weights": bool(i % 2 == 0)}
        if i % 5 == 0:
            fkw["key_padding_mask"] = (
                np.array([False, True, False, True])
                if unbatched
                else np.array([[False, False, True, True], [False, True, False, False]])
            )
        if i % 5 == 1:
            fkw["attn_mask"] = RNG.integers(0, 2, (L, S)).astype(bool) & np.array([False, True, True, True])
        if i % 5 == 2:
            fkw["attn_mask"] = randn(L, S) if unbatched or i % 2 else randn(N * Hh, L, S)
        if i % 5 == 3 and not kw.get("add_bias_kv") and not kw.get("add_zero_attn"):
            fkw["is_causal"] = True
            fkw["attn_mask"] = np.triu(np.ones((L, S), bool), 1)

        def run(kw=kw, q=q, k=k, v=v, fkw=fkw, E=E, Hh=Hh):
            torch.manual_seed(0)
            mt = tnn.MultiheadAttention(E, Hh, **kw).double()
            mo = nn.MultiheadAttention(E, Hh, **kw).double()
            sdt = mt.state_dict()
            assert list(mo.state_dict()) == list(sdt)
            mo.load_state_dict({k_: bp.tensor(v_) for k_, v_ in _sd_np(mt).items()})
            for mode in (True, False):
                mt.train(mode)
                mo.train(mode)
                mt.zero_grad()
                mo.zero_grad()
                ao, lo = _to((G(q), G(k), G(v)), bp)
                at, lt = _to((G(q), G(k), G(v)), torch)
                ot = mt(*at, **_to(fkw, torch)[0])
                oo = mo(*ao, **_to(fkw, bp)[0])
                _cmp_out(_flat(oo), _flat(ot), f"MHA {mode}", 1)
                _backward(_flat(oo), _flat(ot), bp, torch)
                _cmp_grads(lo, lt, "MHA inputs", 1)
                _cmp_grads(list(mo.parameters()), list(mt.parameters()), "MHA params", 1)

        _add(f"MultiheadAttention-{i}", run)
    for i in range(20):
        Hq, Hk = [(2, 2), (4, 2), (1, 1), (6, 3)][i % 4]
        L, S, Ev = 3, [3, 5][i % 2], [4, 6][(i // 2) % 2]
        bshape = [(2,), (), (2, 1)][i % 3] if Hq == Hk else (2,)
        q = randn(*bshape, Hq, L, 4)
        k = randn(*bshape, Hk, S, 4)
        v = randn(*bshape, Hk, S, Ev)
        kw = {}
        if Hq != Hk:
            kw["enable_gqa"] = True
        m = i % 5
        args = [G(q), G(k), G(v)]
        if m == 1:
            kw["attn_mask"] = RNG.integers(0, 2, (L, S)).astype(bool) | np.eye(L, S, dtype=bool)
        elif m == 2:
            kw["attn_mask"] = G(randn(Hq, L, S) if i % 2 else randn(L, S))
        elif m == 3:
            kw["is_causal"] = True
        if i % 3 == 0:
            kw["scale"] = 0.3
        _add(
            f"sdpa-{i}",
            lambda args=args, kw=kw: check_fn("nn.functional.scaled_dot_product_attention", tuple(args), kw),
        )


_attention_cases()


def _transformer_cases():
    for i in range(12):
        dec = i % 2 == 1
        name = "TransformerDecoderLayer" if dec else "TransformerEncoderLayer"
        bf = bool((i // 2) % 2)
        kw = {
            "dim_feedforward": 6,
            "dropout": 0.0,
            "batch_first": bf,
            "norm_first": bool((i // 4) % 2),
            "activation": ["relu", "gelu"][(i // 3) % 2],
            "bias": i % 5 != 4,
            "layer_norm_eps": 1e-5,
        }
        E, N, L, S = 4, 2, 3, 4
        x = randn(N, L, E) if bf else randn(L, N, E)
        mem = randn(N, S, E) if bf else randn(S, N, E)
        kpm = np.array([[False, False, True], [False, False, False]])
        if dec:
            extra = {
                "tgt_mask": tnn.Transformer.generate_square_subsequent_mask(L).numpy().astype("float64"),
                "memory_key_padding_mask": np.array([[False, True, False, False], [False] * 4]),
                "tgt_is_causal": bool(i % 3 == 0),
            }
            inp = (G(x), G(mem))
        else:
            extra = (
                {"src_key_padding_mask": kpm}
                if i % 3
                else {"src_mask": np.triu(np.ones((L, L), bool), 1), "is_causal": True}
            )
            inp = (G(x),)

        def run(name=name, kw=kw, inp=inp, extra=extra):
            torch.manual_seed(0)
            mt = getattr(tnn, name)(4, 2, **kw).double()
            mo = getattr(nn, name)(4, 2, **kw).double()
            assert list(mo.state_dict()) == list(mt.state_dict())
            mo.load_state_dict({k_: bp.tensor(v_) for k_, v_ in _sd_np(mt).items()})
            for mode in (True, False):
                mt.train(mode)
                mo.train(mode)
                mt.zero_grad()
                mo.zero_grad()
                ao, lo = _to(inp, bp)
                at, lt = _to(inp, torch)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ot = mt(*at, **_to(extra, torch)[0])
                oo = mo(*ao, **_to(extra, bp)[0])
                if not mode:  # torch's eval fast path zeroes padded rows (nested tensors): compare the rest
                    keep = np.ones(ot.shape, bool)
                    _cmp_out([oo * bp.tensor(keep)], [ot * torch.tensor(keep)], f"{name} eval", 1)
                    continue
                _cmp_out([oo], [ot], f"{name} {mode}", 1)
                _backward([oo], [ot], bp, torch)
                _cmp_grads(lo, lt, f"{name} inputs", 1)
                _cmp_grads(list(mo.parameters()), list(mt.parameters()), f"{name} params", 1)

        _add(f"{name}-{i}", run)


_transformer_cases()


def _misc_cases():
    x4 = randn(2, 8, 4, 6)
    for cid, name, a, kw, inp in [
        ("Flatten", "Flatten", (), {}, (G(x4),)),
        ("Flatten-1-2", "Flatten", (1, 2), {}, (G(x4),)),
        ("Flatten-0--1", "Flatten", (0, -1), {}, (G(x4),)),
        ("Flatten-0d", "Flatten", (0,), {}, (G(randn(3)),)),
        ("Unflatten", "Unflatten", (1, (2, 4)), {}, (G(x4),)),
        ("Unflatten-neg", "Unflatten", (-1, (3, -1)), {}, (G(x4),)),
        ("PixelShuffle", "PixelShuffle", (2,), {}, (G(x4),)),
        ("PixelShuffle-3d", "PixelShuffle", (2,), {}, (G(x4[0]),)),
        ("PixelShuffle-5d", "PixelShuffle", (2,), {}, (G(randn(2, 1, 4, 2, 3)),)),
        ("PixelUnshuffle", "PixelUnshuffle", (2,), {}, (G(x4),)),
        ("PixelUnshuffle-3d", "PixelUnshuffle", (2,), {}, (G(x4[0]),)),
        ("ChannelShuffle", "ChannelShuffle", (4,), {}, (G(x4),)),
        ("ChannelShuffle-3d", "ChannelShuffle", (2,), {}, (G(x4[0]),)),
        ("Unfold", "Unfold", ((2, 3),), {"dilation": (1, 2), "padding": 1, "stride": (2, 1)}, (G(x4),)),
        ("Unfold-3d", "Unfold", (2,), {}, (G(x4[0]),)),
        ("Fold", "Fold", ((4, 5), (2, 2)), {"stride": 1}, (G(randn(2, 12, 12)),)),
        ("Fold-2d", "Fold", ((5, 5), 2), {"dilation": 2, "padding": 1, "stride": 2}, (G(randn(8, 9)),)),
        ("CosineSimilarity", "CosineSimilarity", (), {}, (G(randn(3, 4)), G(randn(3, 4)))),
        ("CosineSimilarity-bc", "CosineSimilarity", (0,), {"eps": 1e-3}, (G(randn(4, 1)), G(randn(4, 5)))),
        ("CosineSimilarity-0", "CosineSimilarity", (), {}, (G(np.zeros((2, 3))), G(randn(2, 3)))),
        ("PairwiseDistance", "PairwiseDistance", (), {}, (G(randn(3, 4)), G(randn(3, 4)))),
        ("PairwiseDistance-p1-keep", "PairwiseDistance", (1.0,), {"keepdim": True}, (G(randn(3, 4)), G(randn(1, 4)))),
        ("PairwiseDistance-1d", "PairwiseDistance", (3.0,), {"eps": 1e-3}, (G(randn(4)), G(randn(4)))),
        ("PairwiseDistance-inf", "PairwiseDistance", (float("inf"),), {}, (G(randn(3, 4)), G(randn(3, 4)))),
        ("PairwiseDistance-0", "PairwiseDistance", (0.0,), {}, (G(randn(3, 4)), G(randn(3, 4)))),
        ("Identity", "Identity", (3,), {"x": 1}, (G(x4),)),
        ("Linear", "Linear", (6, 3), {}, (G(x4),)),
        ("Linear-nobias", "Linear", (6, 3), {"bias": False}, (G(randn(6)),)),
        ("Bilinear", "Bilinear", (3, 4, 5), {}, (G(randn(2, 3)), G(randn(2, 4)))),
        ("Bilinear-1d", "Bilinear", (3, 4, 5), {"bias": False}, (G(randn(3)), G(randn(4)))),
        ("ZeroPad2d", "ZeroPad2d", ((1, -1, 2, 0),), {}, (G(x4),)),
        ("ReflectionPad1d", "ReflectionPad1d", (2,), {}, (G(randn(2, 5)),)),
        ("ReplicationPad3d", "ReplicationPad3d", ((1, 0, 2, 1, 0, 1),), {}, (G(randn(1, 2, 2, 3)),)),
        ("CircularPad2d", "CircularPad2d", (1,), {}, (G(x4),)),
        ("ConstantPad3d", "ConstantPad3d", (1, 2.5), {}, (G(randn(2, 2, 2, 2)),)),
        ("Softmax2d", "Softmax2d", (), {}, (G(x4),)),
    ]:
        _add(f"misc-{cid}", lambda name=name, a=a, kw=kw, inp=inp: check_module(name, a, kw, inp))
    for cid, name, args, kw in [
        ("one_hot", "one_hot", (RNG.integers(0, 5, (2, 3)),), {}),
        ("one_hot-n", "one_hot", (RNG.integers(0, 5, (4,)), 7), {}),
        ("embedding", "embedding", (RNG.integers(0, 4, (3,)), G(randn(4, 3))), {"padding_idx": 1}),
        ("linear", "linear", (G(randn(2, 3)), G(randn(4, 3)), G(randn(4))), {}),
        ("bilinear", "bilinear", (G(randn(2, 3)), G(randn(2, 4)), G(randn(5, 3, 4))), {}),
        ("pdist", "pdist", (G(randn(5, 3)),), {"p": 1.5}),
        ("pdist-inf", "pdist", (G(randn(4, 3)),), {"p": float("inf")}),
        ("cosine_similarity-bc", "cosine_similarity", (G(randn(2, 1, 4)), G(randn(3, 4))), {"dim": -1}),
        ("pairwise_distance", "pairwise_distance", (G(randn(2, 4)), G(randn(4))), {"p": 2.5, "keepdim": True}),
        ("normalize-0", "normalize", (G(np.zeros((2, 3))),), {}),
        ("layer_norm-nw", "layer_norm", (G(randn(2, 3, 4)), (3, 4)), {}),
        ("layer_norm-w", "layer_norm", (G(randn(2, 3, 4)), (4,), G(randn(4)), None), {"eps": 1e-3}),
        ("group_norm", "group_norm", (G(randn(2, 4, 3)), 2, G(randn(4)), G(randn(4))), {}),
        ("rms_norm", "rms_norm", (G(randn(2, 3, 4)), (4,), G(randn(4))), {}),
        ("rms_norm-eps", "rms_norm", (G(randn(2, 3, 4)), (3, 4)), {"eps": 0.1}),
        (
            "batch_norm-train-none",
            "batch_norm",
            (G(randn(4, 3, 2)), None, None, G(randn(3)), G(randn(3))),
            {"training": True},
        ),
        ("batch_norm-eval", "batch_norm", (G(randn(4, 3)), np.zeros(3) + 0.5, np.ones(3) * 2.0), {}),
        ("instance_norm", "instance_norm", (G(randn(2, 3, 5)),), {}),
        (
            "instance_norm-stats",
            "instance_norm",
            (G(randn(2, 3, 5)), np.zeros(3), np.ones(3)),
            {"use_input_stats": False},
        ),
        ("local_response_norm", "local_response_norm", (G(randn(2, 5, 3)), 3), {"alpha": 0.1, "beta": 0.5, "k": 2.0}),
        ("unfold", "unfold", (G(randn(2, 3, 5, 4)), (2, 2)), {"dilation": 1, "padding": (1, 0), "stride": (1, 2)}),
        ("fold", "fold", (G(randn(1, 8, 4)), (3, 4), 2), {"stride": (1, 2)}),
        ("pixel_shuffle", "pixel_shuffle", (G(randn(1, 9, 2, 2)), 3), {}),
        ("channel_shuffle", "channel_shuffle", (G(randn(1, 6, 2)), 3), {}),
        ("hardtanh-int", "hardtanh", (G(randn(5)),), {"min_val": -1, "max_val": 1}),
        ("softplus-big", "softplus", (G(np.array([-30.0, 0.0, 10.0, 25.0, 40.0])),), {"beta": 2, "threshold": 20}),
        ("logsigmoid-big", "logsigmoid", (G(np.array([-800.0, -30.0, 0.0, 30.0, 800.0])),), {}),
        ("gelu-big", "gelu", (G(np.array([-40.0, -6.0, 0.0, 6.0, 40.0])),), {"approximate": "tanh"}),
        ("mse-bc", "mse_loss", (G(randn(3, 1)), G(randn(3, 4))), {}),
        ("l1-bc", "l1_loss", (G(randn(4)), G(randn(3, 4))), {"reduction": "sum"}),
        ("smooth_l1-bc", "smooth_l1_loss", (G(randn(3, 4)), randn(4)), {"beta": 0.5}),
        ("huber-bc", "huber_loss", (G(randn(3, 4)), randn(1, 4)), {"delta": 0.5}),
        (
            "bce-bc",
            "binary_cross_entropy_with_logits",
            (G(randn(3, 4)), RNG.uniform(0, 1, (3, 4))),
            {"pos_weight": RNG.uniform(1, 2, (4,))},
        ),
        ("cross_entropy-0d", "cross_entropy", (G(randn(4)), np.array(2)), {"label_smoothing": 0.2}),
        ("nll-0d", "nll_loss", (G(randn(4)), np.array(2)), {}),
        ("nll-all-ignored", "nll_loss", (G(randn(3, 4)), np.array([-100, -100, -100])), {}),
        ("ce-all-ignored", "cross_entropy", (G(randn(3, 4)), np.array([-100, -100, -100])), {"label_smoothing": 0.1}),
        ("ce-empty", "cross_entropy", (G(randn(0, 4)), np.zeros(0, dtype=np.int64)), {}),
        ("mse-empty", "mse_loss", (G(randn(0, 4)), randn(0, 4)), {}),
        ("kl_div-batchmean-1d", "kl_div", (G(randn(5)), RNG.uniform(0, 1, 5)), {"reduction": "batchmean"}),
        ("kl_div-zero-target", "kl_div", (G(randn(5)), np.array([0.0, 0.5, 0.0, 0.2, 0.3])), {}),
        ("gaussian_nll-bc", "gaussian_nll_loss", (G(randn(3, 4)), randn(3, 4), G(RNG.uniform(0.1, 1, (3,)))), {}),
        (
            "poisson_nll-noinput",
            "poisson_nll_loss",
            (G(randn(3, 4)), RNG.poisson(3, (3, 4)).astype(float)),
            {"full": True},
        ),
        ("poisson_nll-full-small", "poisson_nll_loss", (G(randn(3)), np.array([0.0, 1.0, 3.0])), {"full": True}),
        ("triplet-1d", "triplet_margin_loss", (G(randn(4)), G(randn(4)), G(randn(4))), {}),
        (
            "triplet-with-distance",
            "triplet_margin_with_distance_loss",
            (G(randn(3, 4)), G(randn(3, 4)), G(randn(3, 4))),
            {"margin": 0.5, "swap": True},
        ),
        (
            "cosine_embedding-0",
            "cosine_embedding_loss",
            (G(np.zeros((2, 3))), G(randn(2, 3)), np.array([1.0, -1.0])),
            {},
        ),
    ]:
        _add(f"F-{cid}", lambda name=name, args=args, kw=kw: check_fn(f"nn.functional.{name}", args, kw))


_misc_cases()


# ---------------------------------------------------------------- init: fans, gains and bounds


def _max_abs(t):
    return float(np.abs(_np(t)).max())


INIT_MODULES = [
    ("Conv1d", (4, 6, 3), {}),
    ("Conv2d", (4, 6, (3, 2)), {"groups": 2}),
    ("Conv3d", (2, 4, 2), {}),
    ("ConvTranspose1d", (4, 6, 3), {}),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 2}),
    ("ConvTranspose3d", (2, 4, (1, 2, 3)), {}),
    ("Linear", (7, 5), {}),
    ("Bilinear", (3, 4, 5), {}),
    ("RNN", (3, 9), {}),
    ("LSTM", (3, 9), {"proj_size": 2}),
    ("GRUCell", (3, 9), {}),
    ("MultiheadAttention", (8, 2), {"kdim": 3, "vdim": 5, "add_bias_kv": True}),
    ("Embedding", (50, 40), {}),
    ("EmbeddingBag", (50, 40), {}),
    ("PReLU", (3,), {}),
    ("LayerNorm", (4,), {}),
    ("GroupNorm", (2, 4), {}),
    ("BatchNorm2d", (3,), {}),
    ("RMSNorm", (4,), {}),
]


@pytest.mark.parametrize("name,a,kw", INIT_MODULES, ids=[m[0] for m in INIT_MODULES])
def test_default_init_ranges(name, a, kw):
    """Default parameter initialisation: same shapes, and samples within (and filling) torch's bounds."""
    bp.manual_seed(0)
    torch.manual_seed(0)
    sums = {}
    for _ in range(40):  # many draws: the largest |w| approaches the bound
        mo = getattr(nn, name)(*a, **kw)
        mt = getattr(tnn, name)(*a, **kw)
        for (ko, po), (kt, pt) in zip(mo.named_parameters(), mt.named_parameters()):
            assert ko == kt and tuple(po.shape) == tuple(pt.shape)
            s0 = sums.setdefault(kt, [0.0, 0.0, 0.0, 0.0])
            s0[0] = max(s0[0], _max_abs(po))
            s0[1] = max(s0[1], _max_abs(pt))
            s0[2] += float(np.std(_np(po)))
            s0[3] += float(np.std(_np(pt)))
    for k, (mo_, mt_, so, st) in sums.items():
        if name in ("Embedding", "EmbeddingBag"):
            assert abs(so - st) / 40 < 0.05, k
            continue
        if mt_ < 2 * st / 40:  # uniform (max/std = sqrt 3): the bound is reached
            assert mo_ == pytest.approx(mt_, rel=0.08, abs=1e-12), f"{name}.{k} max |w| {mo_} vs torch {mt_}"
        assert so == pytest.approx(st, rel=0.08, abs=1e-12), f"{name}.{k} std {so / 40} vs torch {st / 40}"


@pytest.mark.parametrize("shape", [(5,), (5, 3), (6, 4, 3), (2, 3, 4, 5), (2, 3, 1, 4, 2)])
def test_init_fans_and_gains(shape):
    if len(shape) > 1:
        assert nn.init._calculate_fan_in_and_fan_out(bp.zeros(*shape)) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.zeros(*shape)
        )
    for nl, p in [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("selu", None),
        ("conv_transpose3d", None),
    ]:
        assert nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    if len(shape) < 2:
        return
    big = (shape[0] * 40, *shape[1:])
    for fn, kw in [
        ("kaiming_uniform_", {}),
        ("kaiming_uniform_", {"a": 5**0.5}),
        ("kaiming_uniform_", {"mode": "fan_out"}),
        ("kaiming_uniform_", {"nonlinearity": "leaky_relu", "a": 0.1}),
        ("kaiming_normal_", {"mode": "fan_out"}),
        ("xavier_uniform_", {"gain": 2.0}),
        ("xavier_normal_", {"gain": 0.5}),
        ("uniform_", {"a": -0.3, "b": 0.1}),
        ("trunc_normal_", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 1.5}),
        ("normal_", {"std": 0.2}),
        ("orthogonal_", {"gain": 1.5}),
        ("sparse_", {"sparsity": 0.5}),
    ]:
        if fn == "sparse_" and len(shape) != 2:
            continue
        if fn == "kaiming_uniform_" and "mode" in kw and big[0] > 200:
            continue
        wo, wt = bp.zeros(*big), torch.zeros(*big)
        getattr(nn.init, fn)(wo, **kw)
        getattr(torch.nn.init, fn)(wt, **kw)
        ao, at = _np(wo), _np(wt)
        assert ao.shape == at.shape
        if fn == "sparse_":
            assert (ao == 0).sum() == (at == 0).sum()
        elif fn == "trunc_normal_":
            assert ao.min() >= -1.0 and ao.max() <= 1.5
        if fn.endswith("uniform_"):
            assert ao.min() >= at.min() - 0.05 * abs(at.min()) and ao.max() <= at.max() * 1.05 + 1e-9, fn
            assert np.abs(ao).max() == pytest.approx(np.abs(at).max(), rel=0.08)
        if fn == "orthogonal_":
            m = ao.reshape(big[0], -1)
            g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
            np.testing.assert_allclose(g, np.eye(len(g)) * 2.25, atol=1e-4)
        assert float(ao.std()) == pytest.approx(float(at.std()), rel=0.15), (fn, kw)
        assert float(ao.mean()) == pytest.approx(float(at.mean()), abs=0.15 * float(at.std()) + 0.02), (fn, kw)


# ---------------------------------------------------------------- nn.utils


def _params_with_grads(lib, grads):
    ps = []
    for g in grads:
        p = lib.zeros(g.shape, dtype=getattr(lib, str(g.dtype)), requires_grad=True)
        p.grad = lib.tensor(g)
        ps.append(p)
    return ps


CLIP_CASES = [
    (2.0, 1.0, {}),
    (0.5, 1.0, {}),
    (100.0, 1.0, {}),
    (1.0, float("inf"), {}),
    (1.0, "inf", {}),
    (1.0, 1.0, {"foreach": True}),
    (0.3, 3.0, {"foreach": False}),
    (1.0, 2.0, {"error_if_nonfinite": False, "nan": True}),
    (1.0, 2.0, {"error_if_nonfinite": True, "nan": True}),
    (1.0, float("inf"), {"error_if_nonfinite": True, "nan": True}),
    (1.0, 2.0, {"empty": True}),
    (1.0, 0.5, {"f32": True}),
    (1.0, float("-inf"), {}),  # the smallest |g| (the norm of norms: min of the per-tensor minima)
    (1.0, "-inf", {"f32": True}),
    (0.5, 0.0, {}),  # torch's 0-"norm" of the per-tensor counts of non-zeros: how many tensors have one
    (1.0, 2.0, {"mixed": True}),  # float32 and float64 gradients: each norm in its dtype, then float64
]


@pytest.mark.parametrize("max_norm,norm_type,kw", CLIP_CASES)
def test_clip_grad_norm(max_norm, norm_type, kw):
    kw = dict(kw)
    nan, empty, f32 = kw.pop("nan", False), kw.pop("empty", False), kw.pop("f32", False)
    grads = [randn(3, 4), randn(5), randn(2, 2, 2) * 10]
    if f32:
        grads = [g.astype("float32") for g in grads]
    if kw.pop("mixed", False):
        grads[0] = grads[0].astype("float32")
    if nan:
        grads[1][2] = np.nan
    if empty:
        grads = []
    po, pt = _params_with_grads(bp, grads), _params_with_grads(torch, grads)
    try:
        nt = torch.nn.utils.clip_grad_norm_(pt, max_norm, norm_type, **kw)
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ours:
            nn.utils.clip_grad_norm_(po, max_norm, norm_type, **kw)
        assert str(ours.value) == str(e)
        return
    no = nn.utils.clip_grad_norm_(po, max_norm, norm_type, **kw)
    _cmp_out([no], [nt], "total norm", 10)
    _cmp_out([p.grad for p in po], [p.grad for p in pt], "clipped grads", 10)
    if grads:
        for p in (po, pt):
            p[0].grad = None  # a parameter without grad is skipped
        nt = torch.nn.utils.clip_grad_norm_(pt, max_norm, norm_type, **kw)
        no = nn.utils.clip_grad_norm_(po, max_norm, norm_type, **kw)
        _cmp_out([no], [nt], "total norm (one without grad)", 10)
    # a single tensor (not a list) is accepted
    if grads and not nan:
        po, pt = _params_with_grads(bp, grads[:1]), _params_with_grads(torch, grads[:1])
        _cmp_out(
            [nn.utils.clip_grad_norm_(po[0], max_norm, norm_type)],
            [torch.nn.utils.clip_grad_norm_(pt[0], max_norm, norm_type)],
            "one",
            10,
        )


@pytest.mark.parametrize("clip", [0.5, 2, 1e-3])
def test_clip_grad_value_and_vectors(clip):
    grads = [randn(3, 4), randn(5)]
    po, pt = _params_with_grads(bp, grads), _params_with_grads(torch, grads)
    nn.utils.clip_grad_value_(po, clip)
    torch.nn.utils.clip_grad_value_(pt, clip)
    _cmp_out([p.grad for p in po], [p.grad for p in pt], "clip value", 1)
    vo = nn.utils.parameters_to_vector(po)
    vt = torch.nn.utils.parameters_to_vector(pt)
    _cmp_out([vo], [vt], "parameters_to_vector", 1)
    v = randn(17)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.tensor(v), pt)
    with bp.no_grad():
        nn.utils.vector_to_parameters(bp.tensor(v), po)
    _cmp_out([p.detach() for p in po], [p.detach() for p in pt], "vector_to_parameters", 1)
    go = nn.utils.get_total_norm([p.grad for p in po], 3.0) if hasattr(nn.utils, "get_total_norm") else None
    if go is not None:
        _cmp_out([go], [torch.nn.utils.get_total_norm([p.grad for p in pt], 3.0)], "get_total_norm", 1)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("bf", [False, True])
def test_pad_sequence(side, bf):
    seqs = [randn(3, 2), randn(5, 2), randn(1, 2)]
    to = [bp.tensor(a, requires_grad=True) for a in seqs]
    tt = [torch.tensor(a, requires_grad=True) for a in seqs]
    o = nn.utils.rnn.pad_sequence(to, batch_first=bf, padding_value=-2.0, padding_side=side)
    t = torch.nn.utils.rnn.pad_sequence(tt, batch_first=bf, padding_value=-2.0, padding_side=side)
    _cmp_out([o], [t], "pad_sequence", 1)
    _backward([o], [t], bp, torch)
    _cmp_grads(to, tt, "pad_sequence", 1)
    po = nn.utils.rnn.pack_sequence([x.detach() for x in to], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence([x.detach() for x in tt], enforce_sorted=False)
    _cmp_out(_flat(po), _flat(pt), "pack_sequence", 1)
    _cmp_out(nn.utils.rnn.unpack_sequence(po), torch.nn.utils.rnn.unpack_sequence(pt), "unpack_sequence", 1)
    lens = [3, 5, 1]
    uo = nn.utils.rnn.unpad_sequence(o.detach(), bp.tensor(lens), batch_first=bf)
    ut = torch.nn.utils.rnn.unpad_sequence(t.detach(), torch.tensor(lens), batch_first=bf)
    if side == "right":
        _cmp_out(uo, ut, "unpad_sequence", 1)


def _load(mo, mt):
    mo.load_state_dict({k: bp.tensor(v) for k, v in _sd_np(mt).items()})


@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm(dim):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mt = torch.nn.utils.weight_norm(tnn.Conv1d(3, 4, 2).double(), dim=dim)
        mo = nn.utils.weight_norm(nn.Conv1d(3, 4, 2).double(), dim=dim)
    assert list(mo.state_dict()) == list(mt.state_dict())
    for k, v in mt.state_dict().items():
        assert tuple(mo.state_dict()[k].shape) == tuple(v.shape), k
    _load(mo, mt)
    x = randn(2, 3, 5)
    check_mod_pair(mo, mt, (G(x),))
    mt = torch.nn.utils.parametrizations.weight_norm(tnn.Linear(3, 4).double(), dim=dim)
    mo = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4).double(), dim=dim)
    assert list(mo.state_dict()) == list(mt.state_dict())
    _load(mo, mt)
    check_mod_pair(mo, mt, (G(randn(2, 3)),))


def check_mod_pair(mo, mt, inputs, what="module", scale=1.0):
    mo.zero_grad()
    mt.zero_grad()
    ao, lo = _to(inputs, bp)
    at, lt = _to(inputs, torch)
    o, t = mo(*ao), mt(*at)
    _cmp_out(_flat(o), _flat(t), what, scale)
    if _backward(_flat(o), _flat(t), bp, torch):
        _cmp_grads(lo, lt, what + " input", scale)
        po, pt = dict(mo.named_parameters()), dict(mt.named_parameters())
        assert list(po) == list(pt), (list(po), list(pt))
        _cmp_grads(list(po.values()), list(pt.values()), what + " params", scale)


@pytest.mark.parametrize("n_power", [1, 3])
def test_spectral_norm_eval_matches(n_power):
    """u/v come from different generators: load torch's, then compare (eval: no power iteration)."""
    torch.manual_seed(0)
    mt = torch.nn.utils.spectral_norm(tnn.Linear(5, 4).double(), n_power_iterations=n_power)
    mo = nn.utils.spectral_norm(nn.Linear(5, 4).double(), n_power_iterations=n_power)
    assert list(mo.state_dict()) == list(mt.state_dict())
    _load(mo, mt)
    mo.train()
    mt.train()
    check_mod_pair(mo, mt, (G(randn(3, 5)),), "spectral_norm train", 10)
    _cmp_out([mo.weight_u, mo.weight_v], [mt.weight_u, mt.weight_v], "u, v after a step", 10)
    mo.eval()
    mt.eval()
    check_mod_pair(mo, mt, (G(randn(3, 5)),), "spectral_norm eval", 10)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("orth_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_parametrization(shape, orth_map):
    torch.manual_seed(0)
    mt = torch.nn.utils.parametrizations.orthogonal(
        tnn.Linear(shape[1], shape[0], bias=False).double(), orthogonal_map=orth_map
    )
    mo = nn.utils.parametrizations.orthogonal(
        nn.Linear(shape[1], shape[0], bias=False).double(), orthogonal_map=orth_map
    )
    assert list(mo.state_dict()) == list(mt.state_dict())
    for k, v in mt.state_dict().items():
        assert tuple(mo.state_dict()[k].shape) == tuple(v.shape), k
    _load(mo, mt)
    _cmp_out([mo.weight.detach()], [mt.weight.detach()], "orthogonal weight", 100)
    check_mod_pair(mo, mt, (G(randn(2, shape[1])),), "orthogonal", 100)


def test_conv_output_size_argument():
    x = randn(1, 2, 5, 5)
    for size in [(9, 9), (10, 10), (1, 2, 10, 9), bp.Size([9, 10])]:
        mt = tnn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
        mo = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
        mo.load_state_dict({k: bp.tensor(v) for k, v in _sd_np(mt).items()})
        st = tuple(size) if isinstance(size, bp.Size) else size
        _cmp_out([mo(bp.tensor(x), output_size=size)], [mt(torch.tensor(x), output_size=st)], "output_size", 1)


# ---------------------------------------------------------------- regressions: differences the fuzzer found


def test_prelu_keeps_a_0d_input_0d():
    check_module("PReLU", (), {}, (G(np.asarray(-0.7)),))
    check_fn("nn.functional.prelu", (G(np.asarray(-0.7)), G(np.array([0.3]))))


@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_all_targets_ignored_gives_nan_and_zero_grads(weighted):
    kw = {"weight": RNG.uniform(0.5, 2, 4)} if weighted else {}
    check_fn("nn.functional.nll_loss", (G(randn(3, 4)), np.array([-100, -100, -100])), kw)
    check_fn("nn.functional.nll_loss", (G(randn(2, 4, 3)), np.full((2, 3), 1)), dict(kw, ignore_index=1))
    check_module("NLLLoss", (), kw, (G(randn(3, 4)), np.array([-100, -100, -100])))


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_negative_target_is_nan(log_target):
    t = np.array([[0.5, -0.2, 0.0, 0.7], [0.1, 0.2, -1.0, 0.0]])
    check_fn("nn.functional.kl_div", (G(randn(2, 4)), t), {"reduction": "none", "log_target": log_target})
    check_fn("nn.functional.kl_div", (G(randn(2, 4)), t), {"reduction": "sum", "log_target": log_target})


@pytest.mark.parametrize("name", ["huber_loss", "soft_margin_loss", "binary_cross_entropy_with_logits", "mse_loss"])
@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
def test_loss_result_dtype_with_mixed_dtypes(name, dtypes):
    """torch's huber/soft-margin results take the input's dtype, BCE-with-logits the target's (forward only:
    torch's own backward refuses some of these mixes)."""
    x = randn(3, 4).astype(dtypes[0])
    y = RNG.uniform(0, 1, (3, 4)).astype(dtypes[1])
    for reduction in ("none", "mean"):
        check_fn(f"nn.functional.{name}", (x, y), {"reduction": reduction}, scale=1e4)
    if name == "binary_cross_entropy_with_logits":
        check_fn(f"nn.functional.{name}", (x, y), {"pos_weight": RNG.uniform(1, 2, 4)}, scale=1e4)


@pytest.mark.parametrize("dtype", ["int64"])  # (torch refuses the other integer dtypes)
def test_avg_pool_integer_input_truncates_in_its_dtype(dtype):
    x = RNG.integers(-50, 200, (2, 3, 7, 6)).astype(dtype)
    check_fn("nn.functional.avg_pool2d", (x, 3), {"stride": 2, "padding": 1})
    check_fn("nn.functional.avg_pool2d", (x, 2), {"ceil_mode": True, "count_include_pad": False})
    check_fn("nn.functional.avg_pool2d", (x, 2), {"divisor_override": 3})
    check_fn("nn.functional.avg_pool1d", (x[0], 3), {"stride": 2, "padding": 1})
    check_fn("nn.functional.avg_pool3d", (x[None], 2), {})


@pytest.mark.parametrize(
    "call",
    [
        lambda f, x: f.adaptive_avg_pool2d(x, 3),
        lambda f, x: f.interpolate(x, scale_factor=2, mode="area"),
        lambda f, x: f.interpolate(x.long(), scale_factor=2, mode="bilinear"),
        lambda f, x: f.interpolate(x[0], scale_factor=2, mode="linear"),
    ],
)
def test_integer_averaging_and_linear_interpolation_refused(call):
    """torch refuses these for integer inputs; ours used to truncate the weights (zeros, garbage)."""
    x = RNG.integers(0, 255, (1, 2, 4, 4)).astype("uint8")
    with pytest.raises((RuntimeError, NotImplementedError)):
        call(TF, torch.tensor(x))
    with pytest.raises(NotImplementedError):
        call(F, bp.tensor(x))


def test_empty_batch_norm_pool_group_norm():
    """An empty batch gives an empty output (no error), running statistics untouched."""
    check_module("BatchNorm1d", (3,), {}, (G(np.zeros((0, 3))),), steps=2)
    check_module("BatchNorm2d", (3,), {"momentum": None}, (G(np.zeros((0, 3, 2, 2))),))
    check_module("GroupNorm", (2, 4), {}, (G(np.zeros((0, 4, 3))),))
    for name, args in [
        ("max_pool1d", (2,)),
        ("max_pool2d", (2,)),
        ("avg_pool2d", (2,)),
        ("adaptive_avg_pool2d", (2,)),
        ("adaptive_max_pool2d", (2,)),
        ("lp_pool2d", (2.0, 2)),
    ]:
        xs = np.zeros((0, 2, 5) if name.endswith("1d") else (0, 2, 5, 5))
        check_fn(f"nn.functional.{name}", (G(xs), *args))
    check_fn("nn.functional.max_pool2d", (G(np.zeros((0, 2, 5, 5))), 2), {"return_indices": True})


@pytest.mark.parametrize("fn", CASES)
def test_fuzz(fn):
    fn()
