"""Graph neural network code as torch users write it without PyTorch Geometric (an ``edge_index`` of shape (2, E)):
GCN with symmetric normalisation, GraphSAGE's scatter_reduce aggregations, GAT's segment softmax, GIN with a
learnable eps, graph batching and pooling, a sparse COO adjacency, ``to_dense_adj`` by ``index_put_``, link
prediction and a few Adam steps of node classification. Each program is one function of the library module, run
with torch 2.13 and with ``backprop`` standing in for it from the same NumPy weights; values, gradients, dtypes,
shapes, the ``grad_fn`` names a printed tensor shows, and the errors of the common slips agree."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")

RNG = np.random.default_rng(2026)
N, F_IN, HID, C = 7, 4, 5, 3
X = RNG.normal(size=(N, F_IN)).astype(np.float32)
EDGES = np.array([[0, 1, 1, 2, 3, 4, 0, 2, 5], [1, 0, 2, 1, 4, 3, 2, 0, 4]], dtype=np.int64)  # node 6 isolated
W1 = RNG.normal(size=(F_IN, HID)).astype(np.float32)
W2 = RNG.normal(size=(HID, C)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1, 2, 1])
ATT = RNG.normal(size=(1, 2, 6)).astype(np.float32)  # GAT's attention vector: 2 heads of 3 channels


def _same(want: Any, got: Any, tol: float = 1e-5, where: str = "") -> None:
    """torch's result ``want`` and ours ``got``: the same structure, dtypes, shapes and values."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), where
        for i, (w, g) in enumerate(zip(want, got)):
            _same(w, g, tol, f"{where}[{i}]")
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
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "index_reduce\\(\\) is in beta", UserWarning)
        warnings.filterwarnings("ignore", "Sparse invariant checks", UserWarning)
        _same(program(torch), program(bp), tol)


def _node(t: Any) -> str | None:
    """The name of ``t``'s ``grad_fn`` (what ``print(t)`` shows)."""
    return None if t.grad_fn is None else t.grad_fn.name()


def _error(call: Any) -> tuple[type, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except Exception as e:  # noqa: BLE001 (the class and text are what is compared)
        return type(e), str(e)
    raise AssertionError("no error")


def _same_error(call: Any) -> None:
    """``call(lib)`` fails under both with torch's error class (ours may be a subclass) and words."""
    want, got = _error(lambda: call(torch)), _error(lambda: call(bp))
    assert issubclass(got[0], want[0]) and got[1] == want[1], (want, got)


def _gcn_norm(lib: Any, edge_index: Any, n: int, how: str) -> tuple[Any, Any]:
    """Self loops added, then each edge's 1/sqrt(deg_i deg_j) (degrees counted three ways)."""
    loops = lib.arange(n, dtype=lib.long)
    ei = lib.cat([edge_index, lib.stack([loops, loops])], dim=1)
    row, col = ei
    if how == "bincount":
        deg = lib.bincount(col, minlength=n).float()
    elif how == "scatter_add":
        deg = lib.zeros(n).scatter_add_(0, col, lib.ones(col.size(0)))
    else:
        deg = lib.zeros(n).index_add_(0, col, lib.ones_like(col, dtype=lib.float))
    dinv = deg.pow(-0.5)
    dinv.masked_fill_(dinv == float("inf"), 0)
    return ei, dinv[row] * dinv[col]


@pytest.mark.parametrize("how", ["bincount", "scatter_add", "index_add"])
def test_gcn_message_passing(how: str) -> None:
    def program(lib: Any) -> list:
        x, w1, w2 = lib.tensor(X), lib.tensor(W1, requires_grad=True), lib.tensor(W2, requires_grad=True)
        ei, norm = _gcn_norm(lib, lib.tensor(EDGES), N, how)
        h = x @ w1
        msg = norm.view(-1, 1) * h[ei[0]]
        h = lib.zeros_like(h).index_add_(0, ei[1], msg).relu() @ w2
        msg = norm.unsqueeze(-1) * h.index_select(0, ei[0])
        out = lib.zeros(N, C).scatter_add_(0, ei[1].unsqueeze(-1).expand_as(msg), msg)
        lib.nn.functional.cross_entropy(out, lib.tensor(Y)).backward()
        return [norm, out, w1.grad, w2.grad]

    _both(program)
    # the slip: an edge list and a message tensor of different lengths (torch's words, checked dtype first)
    _same_error(lambda lib: lib.zeros(3, 2).index_add_(0, lib.tensor([0, 1, 2]), lib.ones(2, 2)))


def test_gcn_sparse_adjacency_and_node_names() -> None:
    def program(lib: Any) -> list:
        x = lib.tensor(X, requires_grad=True)
        ei, norm = _gcn_norm(lib, lib.tensor(EDGES), N, "bincount")
        a = lib.sparse_coo_tensor(ei, norm, (N, N))
        w = lib.tensor(W1, requires_grad=True)
        y1 = lib.sparse.mm(a, x @ w)
        y2, y3, y4 = lib.spmm(a, x), a @ x, lib.mm(a.t(), x)
        deg = lib.sparse.sum(lib.sparse_coo_tensor(ei, lib.ones(ei.size(1), requires_grad=True), (N, N)), dim=1)
        dense = a.to_dense()
        (y1.relu().sum() + (y2 * y3).sum() + y4.pow(2).sum()).backward()
        names = [_node(t) for t in (a, y1, y2, y3, y4, a @ x[:, 0], lib.sparse.addmm(x @ w, a, x @ w))]
        return [y1, y2, y3, y4, deg.to_dense(), dense, x.grad, w.grad, names, a.is_leaf, a.requires_grad]

    _both(program)
    a = bp.sparse_coo_tensor(bp.tensor(EDGES), bp.ones(EDGES.shape[1], requires_grad=True), (N, N))
    assert _node(bp.sparse.sum(a, dim=1)) == "SparseSumBackward0" and _node(a.sum(1)) == "SumBackward1"
    assert _node(a.to_dense()) == "ToDenseBackward0"
    assert (
        _node(a.coalesce()) == "CoalesceBackward0" and _node(a + a) == "AddBackward0" and _node(a - a) == "SubBackward0"
    )
    assert _node(bp.sparse.softmax(a, 1)) == "SparseSoftmaxBackward0"
    assert _node(bp.sparse.log_softmax(a, 1)) == "SparseLogSoftmaxBackward0"
    assert "grad_fn=<SparseAddmmBackward0>" in repr(bp.sparse.mm(a, bp.tensor(X)))


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("include_self", [True, False])
def test_sage_scatter_reduce(reduce: str, include_self: bool) -> None:
    def program(lib: Any) -> list:
        x = lib.tensor(X, requires_grad=True)
        src, dst = lib.tensor(EDGES)
        idx = dst.unsqueeze(-1).expand(-1, F_IN)
        base = lib.full((N, F_IN), 0.5, requires_grad=True)  # node 6 receives nothing: an empty segment
        out = base.scatter_reduce(0, idx, x[src], reduce=reduce, include_self=include_self)
        gx, gb = lib.autograd.grad((out * out).sum(), [x, base])
        inplace = lib.zeros(N, F_IN).scatter_reduce_(0, idx, x[src].detach(), reduce, include_self=include_self)
        return [out, gx, gb, inplace, _node(out)]

    _both(program)
    # the slip: an index longer than the messages (torch's one text names self and src)
    _same_error(lambda lib: lib.zeros(3, 2).scatter_reduce(0, lib.tensor([[0, 1, 1]]), lib.ones(2, 2), reduce))


@pytest.mark.parametrize("reduce", ["amax", "amin", "prod", "mean"])
def test_scatter_reduce_ties_and_zeros(reduce: str) -> None:
    """Ties share amax/amin's gradient (self's tying values too, include_self=False as well: torch's rule);
    prod's gradient is exact with one or two zeros in a segment."""

    def program(lib: Any) -> list:
        x = lib.tensor([[1.0, 2.0], [1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [3.0, 0.0]], requires_grad=True)
        idx = lib.tensor([0, 0, 1, 1, 1]).unsqueeze(1).expand(-1, 2)
        res = []
        for include_self in (True, False):
            base = lib.tensor([[1.0, 0.0], [3.0, 5.0], [2.0, 2.0]], requires_grad=True)
            out = base.scatter_reduce(0, idx, x, reduce, include_self=include_self)
            res += [out, *lib.autograd.grad((out * lib.arange(6.0).view(3, 2)).sum(), [x, base])]
        return res

    _both(program)
    i = bp.tensor([0, 1, 1])
    out = bp.zeros(3, 2).index_reduce(0, i, bp.ones(3, 2, requires_grad=True), reduce, include_self=False)
    assert _node(out) == "IndexReduceBackward0"


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
def test_torch_scatter_style_helpers(reduce: str) -> None:
    """``scatter(src, index, dim, dim_size, reduce)`` as torch_scatter-free code writes it: a broadcast index,
    ``scatter_``/``scatter_add_``, a count for the mean, and ``index_reduce_`` for every mode."""

    def program(lib: Any) -> list:
        def broadcast(src: Any, other: Any, dim: int) -> Any:
            for _ in range(src.dim(), other.dim()):
                src = src.unsqueeze(-1)
            return src.expand(other.size())

        def scatter_mean(src: Any, index: Any, dim_size: int) -> Any:
            out = lib.zeros(dim_size, src.size(1)).scatter_add_(0, broadcast(index, src, 0), src)
            count = lib.zeros(dim_size).scatter_add_(0, index, lib.ones(index.size(0)))
            count[count < 1] = 1
            return out / broadcast(count, out, 0)

        x = lib.tensor(X, requires_grad=True)
        index = lib.tensor([0, 2, 0, 2, 1, 4, 4])
        mean = scatter_mean(x, index, 6)
        red = lib.full((6, F_IN), 2.0).index_reduce_(0, index, x, reduce, include_self=False)
        red_self = lib.full((6, F_IN), 2.0, requires_grad=True).index_reduce(0, index, x, reduce)
        one_hot = lib.zeros(N, 5).scatter_(1, index.unsqueeze(1), 1.0)
        legacy = lib.ones(6, F_IN).scatter_(0, broadcast(index, x, 0), x.detach(), reduce="multiply")
        grads = lib.autograd.grad((mean.pow(2).sum() + red.sum() + red_self.pow(2).sum()), x)
        return [mean, red, red_self, one_hot, legacy, grads, _node(red), _node(red_self)]

    _both(program)
    # the slips: a reduce index_reduce does not take, an index past the end, a float64 source
    for lib_call in (
        lambda lib: lib.zeros(3, 2).index_reduce(0, lib.tensor([0, 1]), lib.ones(2, 2), "sum"),
        lambda lib: lib.zeros(3, 2).index_reduce_(0, lib.tensor([0, 1]), lib.ones(2, 2), "max"),
        lambda lib: lib.zeros(3, 2).index_reduce(0, lib.tensor([0, 3]), lib.ones(2, 2), reduce),
        lambda lib: lib.zeros(3, 2).index_reduce(0, lib.tensor([0, 1]), lib.ones(2, 2, dtype=lib.float64), reduce),
        lambda lib: lib.zeros(3, 2).index_reduce(0, lib.tensor([0, 1, 2]), lib.ones(2, 2), reduce),
        lambda lib: lib.zeros(3, 2).scatter_(0, lib.tensor([[0, 1]]), lib.ones(1, 2), reduce="sum"),
    ):
        _same_error(lib_call)


def test_gat_segment_softmax() -> None:
    def program(lib: Any) -> list:
        lib.manual_seed(0)
        heads, ch = 2, 3
        lin = lib.nn.Linear(F_IN, heads * ch, bias=False)
        att = lib.nn.Parameter(lib.tensor(ATT))
        with lib.no_grad():
            lin.weight.copy_(lib.tensor(np.linspace(-1, 1, heads * ch * F_IN, dtype=np.float32).reshape(-1, F_IN)))
        x, (src, dst) = lib.tensor(X), lib.tensor(EDGES)
        h = lin(x).view(-1, heads, ch)
        e = lib.nn.functional.leaky_relu((lib.cat([h[src], h[dst]], dim=-1) * att).sum(-1), 0.2)
        idx = dst.unsqueeze(-1).expand_as(e)
        emax = e.new_zeros(N, heads).scatter_reduce(0, idx, e, reduce="amax", include_self=False)
        ex = (e - emax.index_select(0, dst)).exp()
        den = lib.zeros(N, heads).index_add(0, dst, ex) + 1e-16
        alpha = lib.nn.functional.dropout(ex / den[dst], p=0.6, training=False)
        out = lib.zeros(N, heads, ch).index_add_(0, dst, h[src] * alpha.unsqueeze(-1))
        out = lib.nn.functional.elu(out.mean(dim=1))
        out.sum().backward()
        return [alpha, out, lin.weight.grad, att.grad, _node(emax), _node(den)]

    _both(program)
    # the slip: a float edge index (torch names the in-place kernel and the dtype)
    _same_error(lambda lib: lib.zeros(3).index_add(0, lib.tensor([0.0, 1.0]), lib.ones(2)))


def test_gin_learnable_eps() -> None:
    def program(lib: Any) -> list:
        mlp = lib.nn.Sequential(lib.nn.Linear(F_IN, HID), lib.nn.ReLU(), lib.nn.Linear(HID, C))
        rs = np.random.default_rng(1)
        with lib.no_grad():
            for p in mlp.parameters():
                p.copy_(lib.tensor(rs.normal(size=tuple(p.shape)).astype(np.float32)))
        eps = lib.nn.Parameter(lib.zeros(1))
        x, (src, dst) = lib.tensor(X), lib.tensor(EDGES)
        agg = lib.zeros_like(x).index_add_(0, dst, x[src])
        out = mlp((1 + eps) * x + agg)
        out.pow(2).mean().backward()
        return [out, eps.grad, mlp[0].weight.grad, mlp[2].bias.grad]

    _both(program)
    # the slip: source rows of the wrong width (torch's words)
    _same_error(lambda lib: lib.zeros(3, 2).index_add_(0, lib.tensor([0, 1]), lib.ones(2, 3)))


def test_graph_batching_and_pooling() -> None:
    def program(lib: Any) -> list:
        sizes = lib.tensor([2, 4, 1])
        batch = lib.repeat_interleave(lib.arange(len(sizes)), sizes)
        offsets = lib.cat([lib.zeros(1, dtype=lib.long), sizes.cumsum(0)[:-1]])
        x = lib.tensor(X, requires_grad=True)
        b = int(batch.max()) + 1
        idx = batch.view(-1, 1).expand(-1, F_IN)
        add = lib.zeros(b, F_IN).index_add(0, batch, x)
        mean = add / lib.bincount(batch, minlength=b).clamp(min=1).unsqueeze(-1)
        mx = lib.full((b, F_IN), float("-inf")).scatter_reduce(0, idx, x, reduce="amax")
        mn = lib.zeros(b, F_IN).scatter_reduce(0, idx, x, reduce="amin", include_self=False)
        seg = lib.segment_reduce(x, "max", lengths=sizes)
        seg_amin = lib.segment_reduce(x, "amin", offsets=lib.cat([offsets, lib.tensor([N])]), initial=0.0)
        rep = x[:3].repeat_interleave(sizes, dim=0)
        twice = x.repeat_interleave(2, dim=0)
        g = lib.autograd.grad((add + mean + mx + mn + seg + seg_amin).sum() + rep.sum() + twice.sum(), x)[0]
        names = [_node(t) for t in (seg, rep, twice)]
        return [batch, offsets, add, mean, mx, mn, seg, seg_amin, g, names]

    _both(program)
    # the slips: graph sizes that do not add up to the node count, a negative size, offsets out of order
    for lib_call in (
        lambda lib: lib.segment_reduce(lib.ones(N), "sum", lengths=lib.tensor([2, 4])),
        lambda lib: lib.segment_reduce(lib.ones(N), "sum", lengths=lib.tensor([8, -1])),
        lambda lib: lib.segment_reduce(lib.ones(N), "sum", offsets=lib.tensor([0, 4, 2, 7])),
        lambda lib: lib.segment_reduce(lib.ones(N), "avg", lengths=lib.tensor([7])),
        lambda lib: lib.segment_reduce(lib.ones(2, N), "sum", lengths=lib.tensor([7]), axis=1),
    ):
        _same_error(lib_call)


def test_to_dense_adj_by_index_put() -> None:
    def program(lib: Any) -> list:
        ei = lib.tensor([[0, 0, 1, 2, 3, 4], [1, 1, 2, 0, 4, 3]])  # a repeated edge accumulates
        batch = lib.tensor([0, 0, 0, 1, 1])
        counts = lib.bincount(batch)
        cum = lib.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])
        w = lib.tensor(np.linspace(0.5, 3.0, 6, dtype=np.float32), requires_grad=True)
        b = batch[ei[0]]
        adj = lib.zeros(2, 3, 3)
        adj = adj.index_put((b, ei[0] - cum[b], ei[1] - cum[b]), w, accumulate=True)
        flat = lib.zeros(5, 5)
        flat.index_put_((ei[0], ei[1]), lib.ones(ei.size(1)), accumulate=True)
        g = lib.autograd.grad((adj * lib.arange(18.0).view(2, 3, 3)).sum(), w)[0]
        return [adj, flat, g, _node(adj)]

    _both(program)
    # the slips: index tensors of different lengths, too many values, float64 values, a float index
    for lib_call in (
        lambda lib: lib.zeros(3, 3).index_put_((lib.tensor([0, 1]), lib.tensor([0, 1, 2])), lib.ones(2), True),
        lambda lib: lib.zeros(3, 3).index_put_((lib.tensor([0, 1]), lib.tensor([0, 1])), lib.ones(3), True),
        lambda lib: lib.zeros(3, 3).index_put((lib.tensor([0, 1]),), lib.ones(2, 3, dtype=lib.float64), True),
        lambda lib: lib.zeros(3, 3).index_put_((lib.tensor([0.0, 1.0]), lib.tensor([0, 1])), lib.ones(2), True),
        lambda lib: lib.zeros(3, 3).index_put_((lib.tensor([0, 3]), lib.tensor([0, 1])), lib.ones(2), True),
    ):
        _same_error(lib_call)


def test_link_prediction_negative_sampling() -> None:
    def program(lib: Any) -> list:
        lib.manual_seed(0)
        z = lib.tensor(X, requires_grad=True)
        ei = lib.tensor(EDGES)
        neg = lib.randint(0, N, (2, ei.size(1)), dtype=lib.long)
        pos_s, neg_s = (z[ei[0]] * z[ei[1]]).sum(-1), (z[neg[0]] * z[neg[1]]).sum(-1)
        logits = lib.cat([pos_s, neg_s])
        labels = lib.cat([lib.ones(pos_s.size(0)), lib.zeros(neg_s.size(0))])
        loss = lib.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        weighted = lib.nn.BCEWithLogitsLoss(pos_weight=lib.tensor(2.0))(logits, labels)
        loss.backward()
        return [neg.dtype == lib.int64, tuple(neg.shape), loss, weighted, z.grad]

    _both(program)
    # the slips: a node id of -1 (padding) left in the list that counts degrees, an id past the last node
    for lib_call in (
        lambda lib: lib.bincount(lib.tensor([0, -1, 2])),
        lambda lib: lib.zeros(3, 2).scatter_add_(0, lib.tensor([[0, 3]]), lib.ones(1, 2)),
        lambda lib: lib.zeros(3, 2).index_add_(0, lib.tensor([0, 3]), lib.ones(2, 2)),
        lambda lib: lib.zeros(3, 2).gather(0, lib.tensor([[3, 0]])),
        lambda lib: lib.bincount(lib.tensor([[0, 1]])),
        lambda lib: lib.bincount(lib.tensor([0, 1]), weights=lib.ones(3)),
        lambda lib: lib.bincount(lib.tensor([0, 1]), minlength=-1),
    ):
        _same_error(lib_call)


class _GCN:
    """A two-layer GCN (the tutorial's, without PyG) built on the library module ``lib``."""

    def __init__(self, lib: Any) -> None:
        class Net(lib.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.l1, self.l2 = lib.nn.Linear(F_IN, HID), lib.nn.Linear(HID, C)

            def prop(self, h: Any, ei: Any, norm: Any) -> Any:
                return lib.zeros_like(h).index_add_(0, ei[1], h[ei[0]] * norm[:, None])

            def forward(self, x: Any, ei: Any, norm: Any) -> Any:
                h = self.prop(self.l1(x), ei, norm).relu()
                h = lib.nn.functional.dropout(h, 0.5, self.training)
                return self.prop(self.l2(h), ei, norm)

        self.net = Net()
        rs = np.random.default_rng(3)
        with lib.no_grad():
            for p in self.net.parameters():
                p.copy_(lib.tensor(rs.normal(size=tuple(p.shape)).astype(np.float32) * 0.5))


def test_node_classification_adam_steps() -> None:
    def program(lib: Any) -> list:
        model = _GCN(lib).net.eval()  # (dropout off: the same steps under both)
        x, y = lib.tensor(X), lib.tensor(Y)
        ei, norm = _gcn_norm(lib, lib.tensor(EDGES), N, "bincount")
        opt = lib.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
        mask = lib.tensor([True, True, True, False, False, True, False])
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(x, ei, norm)[mask], y[mask])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        pred = model(x, ei, norm).argmax(dim=1)
        acc = int((pred[~mask] == y[~mask]).sum()) / int((~mask).sum())
        return [losses, pred, acc, [p.detach() for p in model.parameters()]]

    _both(program, tol=1e-4)
    # the slip: the edge index given as float (torch's index_select words)
    _same_error(lambda lib: lib.zeros(3, 2).index_select(0, lib.tensor([0.0])))


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.zeros(3, 2).scatter_add_(0, lib.tensor([[0, 1, 1]]), lib.ones(2, 2)),
        lambda lib: lib.zeros(3, 5).scatter_add_(0, lib.tensor([[0, 1, 1]]), lib.ones(2, 2)),
        lambda lib: lib.zeros(3, 2).scatter(0, lib.tensor([[0, 1, 1]]), 1.0),
        lambda lib: lib.zeros(3, 2).scatter_(0, lib.tensor([[0, 1, 1]]), lib.ones(2, 2), reduce="add"),
        lambda lib: lib.zeros(3, 2).index_add_(0, lib.tensor([0, 1]), lib.ones(2, 2, dtype=lib.float64)),
        lambda lib: lib.zeros(3, 2).index_add(1, lib.tensor([0]), lib.ones(3)),
        lambda lib: lib.zeros(3, 2).index_add(0, lib.tensor([0]), lib.tensor(1.0)),
        lambda lib: lib.zeros(3, 2).index_add(0, lib.tensor([0, 1], dtype=lib.int16), lib.ones(2, 2)),
        lambda lib: lib.zeros(3, 2).index_reduce_(0, lib.tensor([0.0, 1.0]), lib.ones(2, 2), "amax"),
        lambda lib: lib.zeros(3, 2).index_reduce_(0, lib.tensor([0, 1]), lib.ones(2, 3), "amax"),
    ],
)
def test_common_slips(call: Any) -> None:
    """An edge index into a graph of too few nodes, a message tensor of the wrong shape or dtype: torch's
    error class (ours is a subclass) and words."""
    _same_error(call)


def test_int32_edge_index_works_as_torch() -> None:
    """An int32 edge index (from NumPy on Windows, or ``.int()``) is taken by the scatter and index ops.
    (Not expanded for scatter_add here: torch 2.13's CPU gather reads a stride-0 int32 index wrongly, so its
    scatter_add gradient is wrong there; ours is the closed form, checked below.)"""

    def program(lib: Any) -> list:
        ei = lib.tensor(EDGES).int()
        x = lib.tensor(X, requires_grad=True)
        a = lib.zeros(N, F_IN).scatter_add(0, ei[1].view(-1, 1).expand(-1, F_IN).contiguous(), x[ei[0]])
        b = lib.zeros(N, F_IN).index_add(0, ei[1], x.index_select(0, ei[0]))
        c = lib.zeros(N, F_IN).scatter_reduce(0, ei[1].long().view(-1, 1).expand(-1, F_IN), x[ei[0]], "mean")
        g = lib.autograd.grad((a + b + c).pow(2).sum(), x)[0]
        return [a, b, c, g, lib.bincount(ei[0])]

    _both(program)
    # the expanded int32 index torch 2.13 reads wrongly: the closed form (README lists the difference)
    idx = bp.tensor([1, 0, 2, 1], dtype=bp.int32).view(-1, 1).expand(-1, 2)
    assert bp.tensor([[1.0], [2.0], [3.0]]).expand(3, 2).gather(0, idx)[:, 0].tolist() == [2.0, 1.0, 3.0, 2.0]
    x = bp.tensor([[0.0, 0.0], [0.4, 0.4], [0.8, 0.8]], requires_grad=True)
    a = bp.zeros(3, 2).scatter_add(0, idx, x[bp.tensor([0, 1, 1, 2])])  # a = [x1, x0 + x2, x1]
    (g,) = bp.autograd.grad(a.pow(2).sum(), x)  # 2 (x0 + x2), 4 x1, 2 (x0 + x2)
    np.testing.assert_allclose(g.numpy()[:, 0], [1.6, 1.6, 1.6], rtol=1e-6)
    _same_error(lambda lib: lib.zeros(3, 2).index_add(0, lib.tensor([0, 1, 2], dtype=lib.int32), lib.ones(2, 2)))
