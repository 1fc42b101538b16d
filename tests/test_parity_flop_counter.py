"""``bp.utils.flop_counter`` against ``torch.utils.flop_counter`` (same models, same counts per module and op),
plus closed-form checks that run without torch."""

from __future__ import annotations

import importlib.util
import math
import warnings

import pytest

import backprop as bp
from backprop.utils import flop_counter as fcm
from backprop.utils.flop_counter import FlopCounterMode

try:
    import torch
    from torch.utils import flop_counter as tfc
except ImportError:  # pragma: no cover - torch is optional
    torch = None
    tfc = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
HAS_TABULATE = importlib.util.find_spec("tabulate") is not None


def _counts(fc) -> dict:
    return {mod: {str(op): n for op, n in ops.items()} for mod, ops in fc.get_flop_counts().items()}


def _both(build, run) -> tuple[dict, dict, int, int]:
    """Build and run the same program in torch and in backprop under each one's counter."""
    out = []
    for lib, mode in ((torch, tfc.FlopCounterMode), (bp, FlopCounterMode)):
        lib.manual_seed(0)
        objs = build(lib)
        with mode(display=False) as fc:
            run(lib, *objs)
        out.append((_counts(fc), fc.get_total_flops()))
    (tc, tt), (bc, bt) = out
    return tc, bc, tt, bt


def _assert_same(build, run) -> dict:
    tc, bc, tt, bt = _both(build, run)
    assert bc == tc
    assert bt == tt
    return bc


def _backward(lib, m, x):
    m(x).sum().backward()


# ---------------------------------------------------------------- parity with torch


@needs_torch
@pytest.mark.parametrize("x_grad", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_mlp(x_grad, bias):
    def build(L):
        m = L.nn.Sequential(L.nn.Linear(4, 8, bias=bias), L.nn.ReLU(), L.nn.Linear(8, 3, bias=bias))
        return m, L.randn(5, 4, requires_grad=x_grad)

    counts = _assert_same(build, _backward)
    assert set(counts) == {"Global", "Sequential", "Sequential.0", "Sequential.2"}
    fwd = 2 * 5 * 4 * 8 + 2 * 5 * 8 * 3
    assert counts["Global"].get("aten.addmm" if bias else "aten.mm", 0) >= (fwd if bias else 0)


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "transposed_frozen", "vector"])
def test_linear_nd_inputs(bias, layout):
    def build(L):
        m = L.nn.Linear(4, 8, bias=bias)
        if layout == "contiguous":
            x = L.randn(2, 5, 4)
        elif layout == "vector":
            x = L.randn(4)
        else:
            x = L.randn(5, 2, 4, requires_grad=True).transpose(0, 1)
        if layout == "transposed_frozen":
            m.requires_grad_(False)
        return m, x

    _assert_same(build, _backward)


def _mm(a_shape, b_shape, a_grad=True, b_grad=True, a_t=False):
    def build(L):
        a = L.randn(*a_shape, requires_grad=a_grad)
        if a_t:
            a = L.randn(a_shape[1], a_shape[0], *a_shape[2:], requires_grad=a_grad).transpose(0, 1)
        return a, L.randn(*b_shape, requires_grad=b_grad)

    return build


@needs_torch
@pytest.mark.parametrize(
    "build",
    [
        _mm((3, 4, 5), (3, 5, 6)),
        _mm((2, 3, 4, 5), (2, 3, 5, 6)),
        _mm((2, 1, 4, 5), (3, 5, 6)),
        _mm((3, 4, 5), (5, 6)),
        _mm((3, 4, 5), (5, 6), b_grad=False, a_t=True),
        _mm((4, 5), (3, 5, 6)),
        _mm((4, 5), (3, 5, 6), a_grad=False),
        _mm((5,), (5, 6)),
        _mm((4, 5), (5,)),
        _mm((5,), (5,)),
        _mm((5,), (3, 5, 6)),
        _mm((3, 4, 5), (5,)),
    ],
)
def test_matmul_kernels(build):
    _assert_same(build, lambda L, a, b: (a @ b).sum().backward())


@needs_torch
def test_batched_matmul_is_bmm():
    counts = _assert_same(_mm((3, 4, 5), (3, 5, 6)), lambda L, a, b: (a @ b).sum().backward())
    assert counts == {"Global": {"aten.bmm": 3 * 2 * 3 * 4 * 5 * 6}}


@needs_torch
@pytest.mark.parametrize("x_grad", [False, True])
@pytest.mark.parametrize(
    "cls, kw, x_shape",
    [
        ("Conv2d", dict(in_channels=3, out_channels=6, kernel_size=3, stride=2, padding=1, groups=3), (2, 3, 9, 9)),
        ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 2), dilation=2, bias=False), (2, 3, 9, 9)),
        ("Conv2d", dict(in_channels=2, out_channels=4, kernel_size=3, padding="same"), (1, 2, 6, 6)),
        ("Conv1d", dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=2), (2, 2, 11)),
        ("Conv1d", dict(in_channels=2, out_channels=4, kernel_size=3, bias=False), (2, 10)),  # unbatched
        ("Conv3d", dict(in_channels=2, out_channels=4, kernel_size=2), (1, 2, 4, 4, 4)),
        ("ConvTranspose2d", dict(in_channels=4, out_channels=2, kernel_size=3, stride=2), (1, 4, 5, 5)),
        ("ConvTranspose1d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, groups=2), (2, 4, 5)),
    ],
)
def test_convolutions(cls, kw, x_shape, x_grad):
    counts = _assert_same(
        lambda L: (getattr(L.nn, cls)(**kw), L.randn(*x_shape, requires_grad=x_grad)),
        _backward,
    )
    assert set(counts[cls]) == {"aten.convolution", "aten.convolution_backward"}


@needs_torch
def test_nested_modules_and_repeated_submodules():
    def build(L):
        nn = L.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(6, 6)
                self.act = nn.GELU()

            def forward(self, x):
                return self.act(self.proj(x)) + x

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Linear(4, 6)
                self.blocks = nn.ModuleList([Block(), Block()])
                self.shared = nn.Linear(6, 6, bias=False)
                self.head = nn.Sequential(nn.Linear(6, 2))

            def forward(self, x):
                x = self.embed(x)
                for b in self.blocks:
                    x = self.shared(b(x))
                x = self.shared(x.relu())  # the same module again (not back to back: see the module's notes)
                return self.head(x)

        return Net(), L.randn(3, 5, 4)

    counts = _assert_same(build, _backward)
    assert {"Net.blocks.0.proj", "Net.blocks.1", "Net.shared", "Net.head.0"} <= set(counts)


@needs_torch
def test_transformer_block():
    def build(L):
        nn = L.nn

        class Attention(nn.Module):
            def __init__(self, d, h):
                super().__init__()
                self.h = h
                self.qkv = nn.Linear(d, 3 * d)
                self.out = nn.Linear(d, d)

            def forward(self, x):
                b, s, d = x.shape
                q, k, v = self.qkv(x).reshape(b, s, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
                w = (q @ k.transpose(-2, -1) / math.sqrt(d // self.h)).softmax(-1)
                return self.out((w @ v).transpose(1, 2).reshape(b, s, d))

        class Block(nn.Module):
            def __init__(self, d=8, h=2):
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
                self.attn = Attention(d, h)
                self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

            def forward(self, x):
                x = x + self.attn(self.ln1(x))
                return x + self.mlp(self.ln2(x))

        return Block(), L.randn(2, 5, 8)

    counts = _assert_same(build, _backward)
    assert counts["Block.attn"]["aten.bmm"] > 0


@needs_torch
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention(need_weights):
    _assert_same(
        lambda L: (L.nn.MultiheadAttention(8, 2, batch_first=True), L.randn(2, 4, 8)),
        lambda L, m, x: m(x, x, x, need_weights=need_weights)[0].sum().backward(),
    )


@needs_torch
def test_sdpa_on_cpu_is_not_counted():
    tc, bc, _, _ = _both(
        lambda L: (L.randn(2, 3, 4, 8, requires_grad=True),),
        lambda L, q: L.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward(),
    )
    assert bc == tc == {}


@needs_torch
@pytest.mark.parametrize(
    "eq, a, b",
    [
        ("ij,jk->ik", (3, 4), (4, 5)),
        ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
        ("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),
        ("i,j->ij", (3,), (4,)),
        ("ij,kj->", (3, 4), (5, 4)),
    ],
)
def test_einsum(eq, a, b):
    _assert_same(
        lambda L: (L.randn(*a, requires_grad=True), L.randn(*b, requires_grad=True)),
        lambda L, x, y: L.einsum(eq, x, y).sum().backward(),
    )


@needs_torch
def test_no_grad_counts_forward_only():
    def run(L, m, x):
        with L.no_grad():
            m(x)

    counts = _assert_same(
        lambda L: (L.nn.Sequential(L.nn.Linear(4, 8), L.nn.ReLU(), L.nn.Linear(8, 3)), L.randn(5, 4)), run
    )
    assert counts["Global"] == {"aten.addmm": 2 * 5 * 4 * 8 + 2 * 5 * 8 * 3}


@needs_torch
def test_custom_mapping_replaces_a_formula():
    def one(*args, out_shape=None, **kwargs):
        return 1

    out = []
    for lib, mode, key in ((torch, tfc.FlopCounterMode, torch.ops.aten.mm), (bp, FlopCounterMode, "aten.mm")):
        lib.manual_seed(0)
        a, b = lib.randn(3, 4, requires_grad=True), lib.randn(4, 5, requires_grad=True)
        with mode(display=False, custom_mapping={key: one}) as fc:
            (a @ b).sum().backward()
        out.append(_counts(fc))
    assert out[0] == out[1] == {"Global": {"aten.mm": 3}}


@needs_torch
def test_helpers_match_torch():
    assert fcm.mm_flop((3, 4), (4, 5)) == tfc.mm_flop((3, 4), (4, 5))
    assert fcm.conv_flop_count([2, 3, 8, 8], [6, 1, 3, 3], [2, 6, 4, 4]) == tfc.conv_flop_count(
        [2, 3, 8, 8], [6, 1, 3, 3], [2, 6, 4, 4]
    )
    q, k = (2, 4, 8, 16), (2, 2, 10, 16)
    assert fcm.sdpa_flop_count(q, k, k) == tfc.sdpa_flop_count(q, k, k)
    assert fcm.sdpa_backward_flop_count(q, q, k, k) == tfc.sdpa_backward_flop_count(q, q, k, k)
    for n in (0, 7, 999, 1000, 123456, 10**9, 10**10, 10**16):
        assert fcm.get_suffix_str(n) == tfc.get_suffix_str(n)
        assert fcm.convert_num_with_suffix(n, "M") == tfc.convert_num_with_suffix(n, "M")
    assert fcm.convert_to_percent_str(1, 3) == tfc.convert_to_percent_str(1, 3)


@needs_torch
@pytest.mark.skipif(not HAS_TABULATE, reason="tabulate not installed")
@pytest.mark.parametrize("depth", [1, 2, None])
def test_table_matches_torch(depth):
    tables = []
    for lib, mode in ((torch, tfc.FlopCounterMode), (bp, FlopCounterMode)):
        lib.manual_seed(0)
        m = lib.nn.Sequential(lib.nn.Sequential(lib.nn.Linear(4, 8)), lib.nn.ReLU(), lib.nn.Linear(8, 3))
        with mode(display=False) as fc:
            m(lib.randn(5, 4)).sum().backward()
        tables.append(fc.get_table(depth))
    assert tables[0] == tables[1]


@needs_torch
@pytest.mark.skipif(HAS_TABULATE, reason="tabulate is installed")
def test_display_without_tabulate_raises_as_torch():
    errors = []
    for lib, mode in ((torch, tfc.FlopCounterMode), (bp, FlopCounterMode)):
        with pytest.raises(ImportError) as info:
            with mode():
                lib.ones(2, 2) @ lib.ones(2, 2)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


# ---------------------------------------------------------------- closed forms (no torch needed)


def test_linear_closed_form_and_module_paths():
    m = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.ReLU(), bp.nn.Linear(8, 3))
    x = bp.randn(5, 4, requires_grad=True)
    with FlopCounterMode(display=False) as fc:
        m(x).sum().backward()
    f0, f2 = 2 * 5 * 4 * 8, 2 * 5 * 8 * 3
    counts = fc.get_flop_counts()
    assert counts["Sequential.0"] == {"aten.addmm": f0, "aten.mm": 2 * f0}
    assert counts["Sequential.2"] == {"aten.addmm": f2, "aten.mm": 2 * f2}
    assert counts["Sequential"] == counts["Global"] == {"aten.addmm": f0 + f2, "aten.mm": 2 * (f0 + f2)}
    assert fc.get_total_flops() == 3 * (f0 + f2)


def test_conv_closed_form():
    conv = bp.nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, bias=False)
    with FlopCounterMode(display=False) as fc:
        conv(bp.randn(2, 3, 8, 8, requires_grad=True)).sum().backward()
    fwd = fcm.conv_flop_count((2, 3, 8, 8), (6, 1, 3, 3), (2, 6, 4, 4))
    assert fwd == 2 * 2 * 16 * 9 * 6
    bwd = fcm.conv_backward_flop(
        (2, 6, 4, 4), (2, 3, 8, 8), (6, 1, 3, 3), None, 2, 1, 1, False, 0, 3, [True, True, False],
        out_val=((2, 3, 8, 8), (6, 1, 3, 3), None),
    )  # fmt: skip
    assert fc.get_flop_counts()["Conv2d"] == {"aten.convolution": fwd, "aten.convolution_backward": bwd}


def test_batched_and_plain_products():
    a, b = bp.randn(3, 4, 5, requires_grad=True), bp.randn(3, 5, 6)
    with FlopCounterMode(display=False) as fc:
        (a @ b).sum().backward()  # b needs no gradient: one backward product
        bp.randn(4, 5) @ bp.randn(5)  # mv: not counted
    assert fc.get_flop_counts() == {"Global": {"aten.bmm": 2 * (2 * 3 * 4 * 5 * 6)}}


def test_register_flop_formula_and_duplicates():
    key = "mylib.flop_counter_test_op"

    @fcm.register_flop_formula(key)
    def formula(a_shape, out_shape=None, **kwargs):
        return math.prod(a_shape)

    try:
        assert formula(bp.zeros(2, 3)) == 6  # the registered formula takes tensors (their shapes)
        assert FlopCounterMode(display=False).flop_registry[key] is formula
        with pytest.raises(RuntimeError, match="duplicate registrations"):
            fcm.register_flop_formula(key)(formula)
        with pytest.raises(ValueError):
            fcm.register_flop_formula(3)(formula)
    finally:
        fcm.flop_registry.pop(key)


def test_mods_is_deprecated_and_helpers():
    with pytest.warns(UserWarning, match="mods argument is not needed anymore"):
        FlopCounterMode(bp.nn.Linear(2, 2), display=False)
    assert fcm.normalize_tuple(3) == (3,) and fcm.normalize_tuple((1, 2)) == (1, 2)
    assert fcm.get_shape(bp.zeros(2, 3)) == (2, 3) and fcm.get_shape(5) == 5
    assert fcm.get_suffix_str(1_500_000) == "K" and fcm.get_suffix_str(15_000_000) == "M"  # (one step late)
    assert fcm.convert_num_with_suffix(1_500_000, "M") == "1.500M"
    assert fcm.convert_to_percent_str(1, 0) == "0%" and fcm.convert_to_percent_str(1, 4) == "25.00%"
    assert fcm.aten.mm == "aten.mm"
    assert bp.utils.flop_counter is fcm


def test_does_not_nest_with_a_profiler_and_cleans_up():
    mm = bp.registry.get("matmul")
    before = dict(mm._kernels)
    with FlopCounterMode(display=False):
        with pytest.raises(RuntimeError, match="FlopCounterMode"):
            with bp.autograd.profiler.profile():
                pass
        with pytest.raises(RuntimeError, match="do not nest"):
            with FlopCounterMode(display=False):
                pass
    with bp.autograd.profiler.profile():
        with pytest.raises(RuntimeError, match="profiler is running"):
            with FlopCounterMode(display=False):
                pass
    assert mm._kernels == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with FlopCounterMode(display=False) as fc:  # usable again, counts restart
            bp.ones(2, 3) @ bp.ones(3, 4)
    assert fc.get_total_flops() == 2 * 2 * 3 * 4


def test_outside_the_mode_nothing_is_counted():
    fc = FlopCounterMode(display=False)
    with fc:
        pass
    a = bp.randn(3, 4, requires_grad=True)
    (a @ bp.randn(4, 5)).sum().backward()
    assert fc.get_flop_counts() == {}
    assert fc.get_total_flops() == 0
