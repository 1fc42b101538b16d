"""In-place semantics as ordinary torch code meets them, against torch 2.13: each case is a snippet run twice,
with ``torch`` bound to torch and to backprop, and gives the same values, dtypes, shapes, version counters and
node names, or the same error class and message (in-place changes of shape counted as writes, torch's texts for
an expanded view written in a graph, a broadcast that would grow the written tensor and mismatched index-write
dtypes; an integer ``reciprocal_``/``frac`` refused, not truncated to zeros; a Python float past float16's range
assigned as inf, as torch's copy does)."""

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="parity tests compare against torch")


def _plain(v):
    """A snippet's ``out`` as comparable plain data (tensors: dtype name, shape, values)."""
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "detach") and hasattr(v, "shape"):
        return (str(v.dtype).removeprefix("torch."), tuple(v.shape), np.asarray(v.detach().tolist()).tolist())
    if isinstance(v, (torch.Size, bp.Size)):
        return tuple(v)
    return v


def _run(code, lib):
    ns = {"torch": lib}
    try:
        exec(code, ns)
    except Exception as e:
        return ("error", e)
    return ("ok", _plain(ns.get("out")))


def _check(code):
    want, got = _run(code, torch), _run(code, bp)
    if want[0] == "error":
        assert got[0] == "error", f"torch raised {want[1]!r}, we gave {got[1]!r}"
        assert isinstance(got[1], type(want[1])), (type(got[1]), type(want[1]))
        assert str(got[1]) == str(want[1])
    else:
        assert got == want


VERSIONS = {
    "unsqueeze_": "x = torch.zeros(2, 3); x.unsqueeze_(0); out = [x._version, x.shape]",
    "squeeze_": "x = torch.zeros(2, 1, 3); x.squeeze_(); out = [x._version, x.shape]",
    "squeeze_ dim": "x = torch.zeros(2, 1, 3); x.squeeze_(1); out = [x._version, x.shape]",
    "t_": "x = torch.zeros(2, 3); x.t_(); out = [x._version, x.shape]",
    "transpose_": "x = torch.zeros(2, 3); x.transpose_(0, 1); out = [x._version, x.shape]",
    "swapdims_": "x = torch.zeros(2, 3); x.swapdims_(0, 1); out = [x._version, x.shape]",
    "as_strided_": "x = torch.zeros(2, 3); x.as_strided_((3,), (1,)); out = [x._version, x.shape]",
    "shared with a view": "x = torch.zeros(2, 3); y = x[0]; x.unsqueeze_(0); out = [x._version, y._version]",
    "t_ after a saved use": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; c = b * b; b.t_(); c.sum().backward()"
    ),
    "unsqueeze_ node": "a = torch.ones(2, 3, requires_grad=True); x = a * 1; x.unsqueeze_(0); out = x.grad_fn.name()",
    "squeeze_ node": "a = torch.ones(2, 1, requires_grad=True); x = a * 1; x.squeeze_(); out = x.grad_fn.name()",
    "squeeze_ dim node": ("a = torch.ones(2, 1, requires_grad=True); x = a * 1; x.squeeze_(1); out = x.grad_fn.name()"),
    "transpose_ node": (
        "a = torch.ones(2, 3, requires_grad=True); x = a * 1; x.transpose_(0, 1); out = x.grad_fn.name()"
    ),
    "unsqueeze_ then a saved use": (
        "a = torch.ones(2, 3, requires_grad=True); b = (a * 1).unsqueeze_(0); c = b * b; b.add_(1); c.sum().backward()"
    ),
    "gradient through t_": (
        "a = torch.ones(2, 3, requires_grad=True); x = a * 1; x.t_(); (x * torch.arange(2.)).sum().backward();"
        " out = [a.grad, x.grad_fn.name()]"
    ),
}


@pytest.mark.parametrize("code", VERSIONS.values(), ids=VERSIONS.keys())
def test_inplace_shape_changes_count_as_writes(code):
    _check(code)


COPY_SLICES = {
    "name and repr": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b[0] = 1; out = [b.grad_fn.name(), repr(b.grad_fn)[:12]]"
    ),
    "view's write": "a = torch.ones(3, requires_grad=True); b = a * 2; b[1:].mul_(3); out = b.grad_fn.name()",
    "transposed view's write": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; b.t().copy_(a.t()); out = b.grad_fn.name()"
    ),
    "fill_": "a = torch.ones(2, 3, requires_grad=True); b = a * 1; b.fill_(2); out = b.grad_fn.name()",
    "fill_ of a tensor": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; b.fill_(torch.tensor(2.)); out = b.grad_fn.name()"
    ),
    "zero_": "a = torch.ones(2, 3, requires_grad=True); b = a * 1; b.zero_(); out = b.grad_fn.name()",
    "copy_": "a = torch.ones(2, 3, requires_grad=True); b = torch.zeros(2, 3); b.copy_(a); out = b.grad_fn.name()",
    "copy_ then a saved use": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; c = b * b; b.copy_(a); c.sum().backward()"
    ),
    "zero_ then a saved use": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; c = b * b; b.zero_(); c.sum().backward()"
    ),
    "a saved tensor written by a slice": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 1; c = b.pow(2); b[0].mul_(2); c.sum().backward()"
    ),
}


@pytest.mark.parametrize("code", COPY_SLICES.values(), ids=COPY_SLICES.keys())
def test_copy_slices_named_as_torch(code):
    _check(code)


ERRORS = {
    "add_ grows": "x = torch.zeros(3); x.add_(torch.ones(2, 3))",
    "add_ grows a size-1 dim": "x = torch.zeros(1, 3); x.add_(torch.ones(2, 3))",
    "mul_ grows": "x = torch.zeros(3); x.mul_(torch.ones(2, 1))",
    "add_ grows in a graph": "x = torch.zeros(3, requires_grad=True) * 1; x.add_(torch.ones(2, 3))",
    "expanded view in a graph": "a = torch.ones(3, requires_grad=True); b = a * 2; b.expand(2, 3).add_(1)",
    "int reciprocal_": "x = torch.tensor([5, 6]); x.reciprocal_()",
    "int32 reciprocal_": "x = torch.tensor([5, 6], dtype=torch.int32); x.reciprocal_()",
    "int frac": "torch.tensor([5, 6]).frac()",
    "int frac_": "torch.tensor([5, 6], dtype=torch.uint8).frac_()",
    "bool frac": "torch.tensor([True]).frac()",
    "index_put_ dtype": "x = torch.tensor([1, 2, 3]); x.index_put_((torch.tensor([0]),), torch.tensor(2.5))",
    "index_put dtype": "x = torch.tensor([1, 2, 3]); x.index_put((torch.tensor([0]),), torch.tensor([2.5]))",
    "index_put_ shape": "x = torch.tensor([1., 2, 3]); x.index_put_((torch.tensor([0]),), torch.tensor([1., 2.]))",
    "index_add_ dtype": "x = torch.tensor([1, 2, 3]); x.index_add_(0, torch.tensor([0]), torch.tensor([2.5]))",
    "index_add dtype": "x = torch.tensor([1, 2, 3]); x.index_add(0, torch.tensor([0]), torch.tensor([2.5]))",
    "index_copy_ dtype": "x = torch.tensor([1, 2, 3]); x.index_copy_(0, torch.tensor([0]), torch.tensor([2.5]))",
    "index_reduce_ dtype": (
        "x = torch.tensor([1, 2, 3]); x.index_reduce_(0, torch.tensor([0]), torch.tensor([2.5]), 'prod')"
    ),
    "masked_scatter_ dtype": "x = torch.tensor([1, 2, 3]); x.masked_scatter_(x > 1, torch.tensor([2.5, 1]))",
    "put_ dtype": "x = torch.tensor([1, 2, 3]); x.put_(torch.tensor([0]), torch.tensor([2.5]))",
    "x[index tensor] = other dtype": "x = torch.tensor([1., 2, 3]); x[torch.tensor([0])] = torch.tensor(2)",
    "x[mask] = other dtype": "x = torch.tensor([1., 2, 3]); x[x > 1] = torch.tensor([2, 3])",
    "x[list] = float64": "x = torch.tensor([1., 2, 3]); x[[0, 1]] = torch.tensor([2., 3], dtype=torch.float64)",
    "x[list] = 0-d float64": "x = torch.tensor([1., 2, 3]); x[[0, 1]] = torch.tensor(2.0, dtype=torch.float64)",
    "x[:, list] = ints": "y = torch.zeros(2, 3); y[:, [0, 1]] = torch.tensor([2, 3])",
    ".data = ints on a tensor that requires grad": (
        "x = torch.ones(3, requires_grad=True); x.data = torch.zeros(2, dtype=torch.int64)"
    ),
    "x[0, list] = ints in a graph": (
        "y = torch.zeros(2, 3, requires_grad=True) * 1; y[0, [0, 1]] = torch.tensor([2, 3])"
    ),
}


@pytest.mark.parametrize("code", ERRORS.values(), ids=ERRORS.keys())
def test_inplace_errors_as_torch(code):
    with pytest.raises(RuntimeError):  # (torch raises here: the check compares class and text)
        exec(code, {"torch": torch})
    _check(code)


WRITES = {
    "float16 x[i] = 1e6": "x = torch.tensor([1., 2], dtype=torch.float16); x[0] = 1e6; x[1] = 10**6; out = x",
    "float16 x[i] = -1e6": "x = torch.tensor([1., 2], dtype=torch.float16); x[0] = -1e6; out = x",
    "float16 x[:] = 1e6": "x = torch.tensor([1., 2], dtype=torch.float16); x[:] = 1e6; out = x",
    "float16 x[mask] = 1e6": "x = torch.tensor([1., 2], dtype=torch.float16); x[x > 0] = 1e6; out = x",
    "float16 x[list] = 1e6": "x = torch.tensor([1., 2], dtype=torch.float16); x[[0]] = 1e6; out = x",
    "float16 x[i] = 65519 rounds": "x = torch.tensor([1., 2], dtype=torch.float16); x[0] = 65519.; out = x",
    "float16 x[i] = 65520 is inf": "x = torch.tensor([1., 2], dtype=torch.float16); x[0] = 65520.; out = x",
    "bfloat16 x[i] = 1e300": "x = torch.tensor([1., 2], dtype=torch.bfloat16); x[0] = 1e300; out = x",
    "float16 in a graph": (
        "x = torch.tensor([1., 2], dtype=torch.float16, requires_grad=True) * 1; x[0] = 1e6; out = x"
    ),
    # which writes take another dtype (basic indexing's copy_, a mask's masked_fill_) and which refuse
    "index_put_'s dtype rule": """
x = torch.tensor([1., 2, 3]); y = torch.zeros(2, 3)
x[x > 1] = torch.tensor(2); x[0] = torch.tensor(5); x[:2] = torch.tensor([2, 3]); x[[0, 1]] = torch.tensor([7., 8])
y[..., 1] = torch.tensor([2, 3])
try:
    x[[0]] = torch.tensor([1])
except RuntimeError as e:
    err = str(e)
out = [x, y, err]
""",
    "reciprocal_ and frac_ by dtype": """
x = torch.tensor([2., 4]).reciprocal_(); y = torch.tensor([1.5, -2.25]).frac_()
try:
    torch.tensor([5]).reciprocal_()
except RuntimeError as e:
    err = str(e)
out = [x, y, err]
""",
}


@pytest.mark.parametrize("code", WRITES.values(), ids=WRITES.keys())
def test_inplace_writes_as_torch(code):
    _check(code)


def test_half_fill_still_refuses_overflow():
    """``fill_`` and ``masked_fill_`` check a Python number against the dtype (torch's Scalar conversion);
    only the assignment's copy rounds to inf."""
    _check("x = torch.tensor([1., 2], dtype=torch.float16); x.fill_(1e6)")
    _check("x = torch.tensor([1., 2], dtype=torch.float16); x.masked_fill_(x > 0, 1e6)")
    x = bp.tensor([1.0, 2.0], dtype=bp.float16)
    x[1] = 65519.0
    assert x.tolist() == [1.0, 65504.0]  # (rounded to the nearest half, not refused)


RETAINED = {
    "mul_": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b.mul_(3); (b * 5).sum().backward();"
        " out = [a.grad, b.grad]"
    ),
    "a slice's mul_": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b[1:].mul_(3); (b * 5).sum().backward();"
        " out = [a.grad, b.grad]"
    ),
    "a transposed view's mul_": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 2; b.retain_grad(); b.t()[0].mul_(3);"
        " (b * 5).sum().backward(); out = [a.grad, b.grad]"
    ),
    "assignment": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b[0] = 7; (b * 5).sum().backward();"
        " out = [a.grad, b.grad]"
    ),
    "fill_": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b.fill_(7); (b * 5).sum().backward();"
        " out = [a.grad, b.grad]"
    ),
    "sigmoid_": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b.sigmoid_(); (b * 5).sum().backward();"
        " out = [a.grad, b.grad]"
    ),
    "a view's own": (
        "a = torch.ones(2, 3, requires_grad=True); b = a * 2; c = b[0]; c.retain_grad(); c.mul_(3);"
        " (b * 5).sum().backward(); out = [a.grad, c.grad]"
    ),
    "a hook stays with its version": (
        "a = torch.ones(3, requires_grad=True); b = a * 2; b.retain_grad(); b.register_hook(lambda g: g * 10);"
        " b.mul_(3); (b * 5).sum().backward(); out = [a.grad, b.grad]"
    ),
    "a custom Function's mark_dirty": """
class F(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        return x.mul_(2)

    @staticmethod
    def backward(ctx, g):
        return g * 2

a = torch.ones(3, requires_grad=True); b = a * 1; b.retain_grad(); F.apply(b); (b * 3).sum().backward()
out = [a.grad, b.grad]
""",
}


@pytest.mark.parametrize("code", RETAINED.values(), ids=RETAINED.keys())
def test_retain_grad_follows_inplace_changes(code):
    """``.grad`` of a tensor that ``retain_grad()`` and was then changed in place is the gradient of its new
    version, as torch's (it was the old version's: 15 for ``b.mul_(3); (b * 5).sum()``, where torch gives 5)."""
    _check(code)


def test_saved_output_of_a_views_inplace_op_is_checked():
    """``v = x[0]; v.exp_()`` saves exp's output, which is ``v``'s new version: a later write into ``v`` or its
    base is caught in backward, as torch's version counter does (it computed from the stale copy)."""
    _check("a = torch.ones(2, 3, requires_grad=True); x = a * 1; v = x[0]; v.exp_(); v.mul_(2); x.sum().backward()")
    _check("a = torch.zeros(2, 3, requires_grad=True); x = a * 1; v = x[0]; v.exp_(); x.sum().backward(); out = a.grad")
    for write in (
        "x.mul_(2)",
        "x[1] = 3",
        "x[1].mul_(2)",
        "del v; x.mul_(2)",
        "v = x[0]; v.zero_()",
    ):  # (the base written: torch names the view's AsStrided)
        code = (
            f"a = torch.ones(2, 3, requires_grad=True); x = a * 1; v = x.t(); v.sigmoid_(); {write}; x.sum().backward()"
        )
        want, got = _run(code, torch), _run(code, bp)
        assert want[0] == got[0] == "error"
        head = "one of the variables needed for gradient computation has been modified by an inplace operation: "
        assert str(got[1]).startswith(head + "[torch.FloatTensor [3, 2]], which is output 0 of ")
        assert (
            "is at version 2; expected version 1 instead" in str(got[1]) == str(want[1]).replace("AsStrided", "Sigmoid")
        )


W = "w = torch.ones(3, requires_grad=True)"
NG = "\nwith torch.no_grad():\n    "
NO_GRAD_VIEWS = {
    "a leaf's slice": W + NG + "v = w[:2]\nv.add_(1)",
    "a non-leaf's slice": W + " * 1" + NG + "v = w[:2]\nv.mul_(2)",
    "a transpose's fill_": W + " * 1" + NG + "v = w.t()\nv.fill_(2)",
    "a view's copy_": W + " * 1" + NG + "v = w.view(3)\nv.copy_(torch.zeros(3))",
    "a view of it": W + NG + "v = w[:2]\nu = v[:1]\nu.zero_()",
}


@pytest.mark.parametrize("code", NO_GRAD_VIEWS.values(), ids=NO_GRAD_VIEWS.keys())
def test_inplace_on_a_no_grad_view_with_grad_mode_on_refuses(code):
    """A view taken in no_grad mode of a tensor that requires grad, changed in place with grad mode on: torch's
    error (it changed the leaf's values behind autograd's back). Views of a view name the view op in torch's
    text ("Output 0 of Slice is a view of a view which ..."); ours gives the direct text, the rest the same."""
    want, got = _run(code, torch), _run(code, bp)
    assert want[0] == got[0] == "error"
    assert type(got[1]) is RuntimeError
    tail = "was created in no_grad mode and is being modified inplace with grad mode enabled."
    assert tail in str(want[1]) and tail in str(got[1])
    assert str(got[1]).split(tail)[1] == str(want[1]).split(tail)[1]


def test_no_grad_views_that_torch_allows():
    _check(W + NG + "v = w[:2]\n    v.mul_(2)\nout = [w, w._version]")
    _check("w = torch.ones(3)" + NG + "v = w[:2]\nv.mul_(2)\nout = [w, w._version]")
    _check(W + "\nd = w.detach()" + NG + "v = d[:2]\nv.mul_(2)\nout = w")
    _check(W + NG + "v = w.detach()[:2]\nv.mul_(2)\nout = w")
    with pytest.raises(RuntimeError, match="created in no_grad mode"):  # (it wrote into the leaf silently)
        exec(W + NG + "v = w[:2]\nv.add_(1)", {"torch": bp})
