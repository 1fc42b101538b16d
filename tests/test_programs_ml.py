"""Classic ML, tabular, recommender and representation-learning programs as a PyTorch user writes them, run
once with torch and once with ``backprop`` standing in for ``torch`` (the same code, the library passed in),
from the same initial weights (made with NumPy and loaded through ``load_state_dict``): losses, parameters,
gradients, predictions and metrics agree, and so do the exceptions of common slips (integer labels in
``BCEWithLogitsLoss``, float64 targets in ``BCELoss``, ...).

Covered: least squares (``linalg.lstsq`` with drivers, normal equations, ``solve``/``inv``/``pinv``/
``cholesky_solve``, QR), polynomial features (``vander``, ``pow`` with an exponent tensor), linear / logistic
(LBFGS with strong Wolfe) / softmax regression, kernel ridge with ``cdist``, matrix factorisation with BPR
(``logsigmoid``) and ``topk`` retrieval, NCF, DLRM (``EmbeddingBag`` sum/mean/max with offsets and
``per_sample_weights``, ``bmm`` interactions picked with ``triu_indices``), factorisation machines with
``combinations``/``cartesian_prod`` pair features, k-means (``cdist``/``argmin``/``index_add_``/
``scatter_add_``/``bincount``/``unique``), PCA (``svd``, ``pca_lowrank``, ``cov``/``corrcoef``, ``eigh``),
metrics by hand (confusion matrix from ``bincount``, ROC-AUC with ``argsort``/``cumsum``/``trapezoid``,
``histc``/``histogram``/``bucketize``/``searchsorted``, NDCG/MRR), standardisation with NaNs (``nan_to_num``,
``nanmean``, ``nanquantile``), every embedding/ranking/regression loss (triplet, cosine embedding, margin
ranking, hinge embedding, multi-margin, soft margin, multilabel, BCE with ``pos_weight``, Gaussian and
Poisson NLL, Huber/SmoothL1, KL with ``log_target``), focal / quantile / ordinal losses by hand, SimCLR
NT-Xent and CLIP losses, distillation, mixup and label smoothing, ensembling with ``torch.func``
(``stack_module_state`` + ``functional_call`` + ``vmap``, per-sample gradients, ``jacrev``/``hessian``),
early stopping with ``deepcopy(state_dict())`` and ``ReduceLROnPlateau``, boosting stumps, a linear SVM,
``WeightedRandomSampler`` / ``random_split`` shapes, ``Embedding(max_norm=...)``, LightGCN on a sparse
adjacency, skip-gram with negative sampling, a VAE's KL terms with ``torch.distributions``, and a tabular
model (``ModuleDict`` of embeddings, ``BatchNorm1d``, ``Bilinear``, ``OneCycleLR``, gradient clipping).

Nothing random is compared (README: random streams are never torch's).
"""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest

import backprop

real_torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

pytestmark = pytest.mark.filterwarnings(
    "ignore:Sparse invariant checks are implicitly disabled:UserWarning",  # torch's note on sparse_coo_tensor
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning",  # torch's forward AD (hessian), once
)


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _same(ours, theirs, rtol: float, path: str = "result") -> None:
    """Nested results compared: dicts by keys, sequences item by item, strings exactly, tensors by shape, dtype
    and values."""
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), path
        for k in theirs:
            _same(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, (str, bool)) or theirs is None:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    else:
        a, b = np.asarray(_np(ours)), np.asarray(_np(theirs))
        assert a.shape == b.shape, (path, a.shape, b.shape)
        assert a.dtype == b.dtype, (path, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=path)


def _both(program, rtol: float = 1e-5) -> None:
    """``program(L)`` with L = torch and L = backprop: the same results."""
    real_torch.manual_seed(0)
    theirs = program(real_torch)
    _same(program(backprop), theirs, rtol)


def _load(L, module, seed: int, scale: float = 1.0):
    """The module's floating parameters and buffers set from a NumPy generator (the same for both libraries)."""
    rs = np.random.default_rng(seed)
    sd = {}
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            sd[k] = L.tensor((rs.standard_normal(tuple(v.shape)) * scale).astype(np.float32))
        else:
            sd[k] = v
    module.load_state_dict(sd)
    return module


def _sub(L, name: str):
    return importlib.import_module(f"{L.__name__}.{name}")


_rng = np.random.default_rng(0)
X = _rng.standard_normal((50, 3))
Y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * _rng.standard_normal(50)


# ------------------------------------------------------------------ regression: closed forms and SGD
def test_least_squares_closed_forms() -> None:
    def program(L):
        A, b = L.tensor(X), L.tensor(Y)
        A1 = L.cat([L.ones(50, 1, dtype=L.float64), A], dim=1)
        r = L.linalg.lstsq(A, b.unsqueeze(1))
        r2 = L.linalg.lstsq(A, b.unsqueeze(1), driver="gelsd")
        G = A1.T @ A1
        Q, R = L.linalg.qr(A1)
        chol = L.linalg.cholesky(G)
        return {
            "lstsq": r.solution,
            "gelsd": (r2.solution, r2.rank, r2.singular_values),
            "ridge": L.linalg.solve(G + 0.1 * L.eye(4, dtype=A.dtype), A1.T @ b),
            "inv": L.linalg.inv(G) @ A1.T @ b,
            "pinv": L.linalg.pinv(A1) @ b,
            "chol": L.cholesky_solve((A1.T @ b).unsqueeze(1), chol),
            "qr": L.linalg.solve_triangular(R, (Q.T @ b).unsqueeze(-1), upper=True).squeeze(-1),
            "info": L.linalg.solve_ex(G, A1.T @ b).info,
        }

    _both(program, rtol=1e-9)


def test_ridge_gradients_through_solve_and_polynomial_features() -> None:
    def program(L):
        A = L.tensor(X, requires_grad=True)
        lam = L.tensor(0.5, dtype=L.float64, requires_grad=True)
        w = L.linalg.solve(A.T @ A + lam * L.eye(3, dtype=L.float64), A.T @ L.tensor(Y))
        w.sum().backward()
        x = L.linspace(-1, 1, 7, dtype=L.float64)
        feats = {
            "vander": L.vander(x, N=4),
            "inc": L.vander(x, N=4, increasing=True),
            "lin": L.linalg.vander(x, N=3),
            "pow": x.unsqueeze(1).pow(L.arange(4)),
            "pow2": x.unsqueeze(-1) ** L.arange(4, dtype=L.float64),
            "int": L.vander(L.arange(4)),
        }
        V = L.vander(L.tensor(X[:, 0]), N=5)
        fit = L.linalg.lstsq(V, L.tensor(Y).unsqueeze(-1)).solution.squeeze(-1)
        return w, A.grad, lam.grad, feats, fit

    _both(program, rtol=1e-8)


def test_linear_regression_sgd_nesterov() -> None:
    def program(L):
        m = L.nn.Linear(3, 1).double()
        with L.no_grad():
            m.weight.copy_(L.tensor([[0.1, 0.2, 0.3]], dtype=L.float64))
            m.bias.fill_(0.0)
        opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True)
        A, b = L.from_numpy(X), L.from_numpy(Y).view(-1, 1)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = L.nn.functional.mse_loss(m(A), b)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, m.weight, m.bias

    _both(program, rtol=1e-10)


def test_logistic_regression_lbfgs_and_softmax_regression() -> None:
    def program(L):
        F = L.nn.functional
        A = L.tensor(X, dtype=L.float32)
        y = L.tensor((Y > 0).astype(np.float32))
        w = L.zeros(3, requires_grad=True)
        b = L.zeros(1, requires_grad=True)
        opt = L.optim.LBFGS([w, b], lr=0.5, max_iter=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(A @ w + b, y) + 1e-3 * w.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        pred = (L.sigmoid(A @ w + b) > 0.5).long()
        yc = L.tensor(np.digitize(Y, [-1, 1]))
        W = L.zeros(3, 3, requires_grad=True)
        opt2 = L.optim.Adam([W], lr=0.1, amsgrad=True)
        for _ in range(10):
            opt2.zero_grad()
            loss = F.cross_entropy(A @ W, yc, label_smoothing=0.1)
            loss.backward()
            opt2.step()
        return w, b, pred, (pred == y.long()).float().mean(), W, loss, F.one_hot(yc).sum(0), (A @ W).argmax(1)

    _both(program, rtol=1e-4)


def test_kernel_ridge_with_cdist() -> None:
    def program(L):
        A, b = L.tensor(X), L.tensor(Y)
        K = L.exp(-L.cdist(A, A).pow(2) / 2.0)
        alpha = L.linalg.solve(K + 0.1 * L.eye(50, dtype=L.float64), b)
        Kt = L.exp(-L.cdist(A[:5], A, compute_mode="use_mm_for_euclid_dist").pow(2) / 2.0)
        return alpha, Kt @ alpha, L.linalg.eigvalsh(K), L.cdist(A, A, p=1)[:3], L.cdist(A[None], A[None], p=np.inf)

    _both(program, rtol=1e-8)


# ------------------------------------------------------------------ recommenders
USERS, POS, NEG = (np.random.default_rng(1).integers(0, n, 32) for n in (10, 20, 20))


def test_matrix_factorisation_bpr_and_topk_retrieval() -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional

        class MF(nn.Module):
            def __init__(self):
                super().__init__()
                self.u, self.i = nn.Embedding(10, 8), nn.Embedding(20, 8)
                self.ub, self.ib = nn.Embedding(10, 1), nn.Embedding(20, 1)

            def forward(self, u, i):
                return (self.u(u) * self.i(i)).sum(dim=-1) + self.ub(u).squeeze(-1) + self.ib(i).squeeze(-1)

        m = _load(L, MF(), 5, 0.1)
        opt = L.optim.Adagrad(m.parameters(), lr=0.1, initial_accumulator_value=0.1)
        u, p, n = L.from_numpy(USERS), L.from_numpy(POS), L.from_numpy(NEG)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            reg = sum(x.norm(2).pow(2) for x in m.parameters())
            loss = -F.logsigmoid(m(u, p) - m(u, n)).mean() + 1e-4 * reg
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        scores = m.u.weight @ m.i.weight.T
        top = L.topk(scores, k=5, dim=1, largest=True, sorted=True)
        return L.stack(losses), top.values, top.indices, L.topk(scores, 3, largest=False).indices, m.state_dict()

    _both(program)


def test_neural_collaborative_filtering_with_pos_weight() -> None:
    def program(L):
        nn = L.nn

        class NCF(nn.Module):
            def __init__(self):
                super().__init__()
                self.u, self.i, self.gu, self.gi = (nn.Embedding(n, 4) for n in (10, 20, 10, 20))
                self.mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 8), nn.ReLU())
                self.out = nn.Linear(12, 1)

            def forward(self, u, i):
                h = self.mlp(L.cat([self.u(u), self.i(i)], dim=-1))
                return self.out(L.cat((self.gu(u) * self.gi(i), h), -1)).squeeze(-1)

        m = _load(L, NCF(), 3, 0.3)
        u, p = L.from_numpy(USERS), L.from_numpy(POS)
        label = L.from_numpy((POS % 2).astype(np.float32))
        opt = L.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.01)
        crit = nn.BCEWithLogitsLoss(pos_weight=L.tensor([2.0]))
        for _ in range(5):
            opt.zero_grad()
            loss = crit(m(u, p), label)
            loss.backward()
            opt.step()
        return loss, m.state_dict(), [q.grad for q in m.parameters()]

    _both(program)


def test_embedding_bag_modes_offsets_and_per_sample_weights() -> None:
    rs = np.random.default_rng(4)
    W, psw = rs.standard_normal((20, 5)).astype(np.float32), rs.random(8).astype(np.float32)

    def program(L):
        nn, F = L.nn, L.nn.functional
        idx, off = L.tensor([1, 2, 4, 5, 4, 3, 2, 9]), L.tensor([0, 2, 2, 5])
        out = {}
        for mode in ("sum", "mean", "max"):
            eb = nn.EmbeddingBag(20, 5, mode=mode)
            eb.weight.data.copy_(L.tensor(W))
            r = eb(idx, off)
            r.pow(2).sum().backward()
            out[mode] = (r, eb.weight.grad)
            out[mode + "_pad"] = nn.EmbeddingBag.from_pretrained(L.tensor(W), mode=mode, padding_idx=2)(idx, off)
            out[mode + "_last"] = F.embedding_bag(
                idx, L.tensor(W), L.tensor([0, 2, 2, 8]), mode=mode, include_last_offset=True
            )
        eb = nn.EmbeddingBag(20, 5, mode="sum")
        eb.weight.data.copy_(L.tensor(W))
        out["psw"] = eb(idx, off, per_sample_weights=L.tensor(psw))
        out["2d"] = eb(idx.view(2, 4), per_sample_weights=L.tensor(psw).view(2, 4))
        out["max_norm"] = F.embedding_bag(idx, L.tensor(W), off, max_norm=1.0, mode="sum")
        return out

    _both(program)


def test_dlrm_interactions() -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional

        class DLRM(nn.Module):
            def __init__(self):
                super().__init__()
                self.bot = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.ReLU())
                self.embs = nn.ModuleList([nn.EmbeddingBag(n, 6, mode="sum") for n in (10, 7, 5)])
                li, lj = L.triu_indices(4, 4, offset=1)
                self.register_buffer("li", li)
                self.register_buffer("lj", lj)
                self.top = nn.Sequential(nn.Linear(6 + 6, 8), nn.ReLU(), nn.Linear(8, 1))

            def forward(self, dense, idxs, offs):
                x = self.bot(dense)
                T = L.cat([x] + [e(i, o) for e, i, o in zip(self.embs, idxs, offs)], dim=1).view(x.shape[0], -1, 6)
                Z = L.bmm(T, L.transpose(T, 1, 2))
                ti, tj = L.tril_indices(4, 4, offset=-1)
                return self.top(L.cat([x, Z[:, self.li, self.lj]], 1)), Z[:, ti, tj]

        m = _load(L, DLRM(), 7, 0.3)
        rs = np.random.default_rng(7)
        dense = L.tensor(rs.standard_normal((3, 4)).astype(np.float32))
        idxs = [L.tensor(rs.integers(0, n, 6)) for n in (10, 7, 5)]
        y, z = m(dense, idxs, [L.tensor([0, 2, 4])] * 3)
        loss = F.binary_cross_entropy(L.sigmoid(y).squeeze(1), L.tensor([1.0, 0.0, 1.0]))
        loss.backward()
        return y, z, loss, {n: p.grad for n, p in m.named_parameters()}, list(m.state_dict())

    _both(program)


def test_factorisation_machine_and_pair_features() -> None:
    def program(L):
        nn = L.nn

        class FM(nn.Module):
            def __init__(self, n, k):
                super().__init__()
                self.V = nn.Parameter(L.zeros(n, k))
                self.w = nn.Linear(n, 1)

            def forward(self, x):
                inter = (x @ self.V).pow(2) - x.pow(2) @ self.V.pow(2)
                return self.w(x).squeeze(1) + 0.5 * inter.sum(1)

        m = _load(L, FM(6, 3), 9)
        rs = np.random.default_rng(9)
        x = L.tensor((rs.random((8, 6)) > 0.5).astype(np.float32))
        t = L.tensor(rs.standard_normal(8).astype(np.float32))
        loss = nn.HuberLoss(delta=0.5)(m(x), t) + nn.SmoothL1Loss(beta=0.3)(m(x), t)
        loss.backward()
        pairs = L.combinations(L.arange(6), r=2)
        return {
            "loss": loss,
            "grad": m.V.grad,
            "pairs": pairs,
            "cross": x[:, pairs[:, 0]] * x[:, pairs[:, 1]],
            "cart": L.cartesian_prod(L.arange(3), L.arange(2)),
            "cart1": L.cartesian_prod(L.arange(3)),
            "repl": L.combinations(L.arange(4), 3, with_replacement=True),
        }

    _both(program)


def test_lightgcn_on_a_sparse_adjacency() -> None:
    E0 = np.random.default_rng(1).standard_normal((9, 3)).astype(np.float32)

    def program(L):
        ui = np.array([[0, 0, 1, 2, 3, 3], [0, 2, 1, 4, 3, 0]])
        rows, cols = np.concatenate([ui[0], ui[1] + 4]), np.concatenate([ui[1] + 4, ui[0]])
        A = L.sparse_coo_tensor(L.tensor(np.stack([rows, cols])), L.ones(len(rows)), (9, 9)).coalesce()
        deg = L.sparse.sum(A, dim=1).to_dense()
        dinv = deg.pow(-0.5)
        dinv[L.isinf(dinv)] = 0
        ix = A.indices()
        An = L.sparse_coo_tensor(ix, dinv[ix[0]] * A.values() * dinv[ix[1]], A.shape)
        e0 = L.tensor(E0, requires_grad=True)
        embs, e = [e0], e0
        for _ in range(2):
            e = L.sparse.mm(An, e)
            embs.append(e)
        u, i = L.split(L.stack(embs, dim=1).mean(dim=1), [4, 5])
        s = u @ i.T
        s.sum().backward()
        return deg, An.to_dense(), s, e0.grad, An @ e0, A._nnz(), A.is_coalesced()

    _both(program)


def test_skip_gram_negative_sampling() -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional
        inp, out = nn.Embedding(10, 4, sparse=True), nn.Embedding(10, 4)
        rs = np.random.default_rng(2)
        for e in (inp, out):
            e.weight.data.copy_(L.tensor(rs.standard_normal((10, 4)).astype(np.float32)))
        c, ctx, neg = L.tensor([1, 2, 3]), L.tensor([4, 5, 6]), L.tensor([[7, 8], [9, 0], [1, 4]])
        v = inp(c)
        pos = F.logsigmoid((v * out(ctx)).sum(1))
        ng = F.logsigmoid(-L.bmm(out(neg), v.unsqueeze(2)).squeeze(2)).sum(1)
        loss = -(pos + ng).mean()
        loss.backward()
        L.optim.SGD(out.parameters(), lr=0.1).step()
        freq = L.tensor([5.0, 3.0, 1.0, 1.0, 2.0, 7.0, 1.0, 1.0, 1.0, 1.0]) ** 0.75
        sample = L.multinomial(freq / freq.sum(), 6, replacement=True)  # (random: shape and dtype only)
        g = inp.weight.grad
        return loss, out.weight, tuple(sample.shape), str(sample.dtype)[-5:], g.to_dense() if g.is_sparse else g

    _both(program)


# ------------------------------------------------------------------ clustering, PCA, metrics, preprocessing
PTS = np.concatenate([np.random.default_rng(2).standard_normal((20, 2)) + c for c in ([0, 0], [5, 5], [0, 6])])
PTS = PTS.astype(np.float32)


def test_kmeans() -> None:
    def program(L):
        X_ = L.tensor(PTS)
        C = X_[[0, 25, 45]].clone()
        for _ in range(5):
            d = L.cdist(X_, C)
            a = d.argmin(dim=1)
            s = L.zeros_like(C).index_add_(0, a, X_)
            s2 = L.zeros(3, 2).scatter_add_(0, a.unsqueeze(1).expand(-1, 2), X_)
            s3 = L.zeros(3, 2).scatter_reduce(0, a.unsqueeze(1).expand(-1, 2), X_, reduce="mean", include_self=False)
            C = s / L.bincount(a, minlength=3).clamp(min=1).unsqueeze(1)
        u, inv, counts = L.unique(a, sorted=True, return_inverse=True, return_counts=True)
        return C, a, (X_ - C[a]).pow(2).sum(), s2, s3, u, inv, counts, L.bincount(a, weights=X_[:, 0]), d.min(dim=1)

    _both(program)


def test_pca_svd_lowrank_and_covariance() -> None:
    def program(L):
        X_ = L.tensor(PTS, dtype=L.float64)
        Xc = X_ - X_.mean(dim=0, keepdim=True)
        U, S, Vh = L.linalg.svd(Xc, full_matrices=False)
        rec = (U[:, :1] * S[:1]) @ Vh[:1]
        ev = S.pow(2) / (X_.shape[0] - 1)
        U3, S3, V3 = L.pca_lowrank(X_, q=2, center=True, niter=3)  # (q = rank: exact, whatever the sketch)
        fw = L.arange(60) % 3
        return {
            "S": S,
            "err": (Xc - rec).pow(2).mean(),
            "Ufull": tuple(L.linalg.svd(Xc)[0].shape),
            "ratio": ev / ev.sum(),
            "eigh": L.linalg.eigh(L.cov(X_.T))[0],
            "svd_some": L.svd(Xc, some=True)[1],
            "lowrank": (S3, tuple(U3.shape), tuple(V3.shape)),
            "corr": L.corrcoef(X_.T),
            "cov0": L.cov(X_.T, correction=0),
            "covw": L.cov(X_.T, fweights=fw, aweights=L.ones(60, dtype=L.float64)),
        }

    _both(program, rtol=1e-8)


def test_classification_metrics_by_hand() -> None:
    rs = np.random.default_rng(3)
    yt, yp, sc = rs.integers(0, 3, 40), rs.integers(0, 3, 40), rs.random(40).astype(np.float32)

    def program(L):
        t, p, s = L.tensor(yt), L.tensor(yp), L.tensor(sc)
        cm = L.bincount(t * 3 + p, minlength=9).reshape(3, 3)
        tp = cm.diag()
        prec, rec = tp / cm.sum(0).clamp(min=1), tp / cm.sum(1)
        b = (t == 1).float()
        order = L.argsort(s, descending=True, stable=True)
        tps, fps = L.cumsum(b[order], 0), L.cumsum(1 - b[order], 0)
        tpr, fpr = tps / tps[-1], fps / fps[-1]
        ranks = L.empty_like(s)
        ranks[L.argsort(s)] = L.arange(1, 41, dtype=s.dtype)
        hist = L.histogram(s, bins=4, range=(0.0, 1.0))
        edges = L.linspace(0, 1, 5)
        cm2 = L.zeros(3, 3, dtype=L.long)
        cm2.index_put_((t, p), L.ones(40, dtype=L.long), accumulate=True)
        return {
            "cm": cm,
            "f1": 2 * prec * rec / (prec + rec + 1e-12),
            "auc": (L.trapz(tpr, fpr), L.trapezoid(tpr, x=fpr)),
            "ranks": ranks,
            "histc": L.histc(s, bins=5, min=0, max=1),
            "histogram": (hist.hist, hist.bin_edges),
            "bucketize": (L.bucketize(s, edges), L.bucketize(s, edges, right=True, out_int32=True)),
            "searchsorted": (L.searchsorted(edges, s), L.searchsorted(edges, s, side="right")),
            "cm2": cm2,
            "histdd": L.histogramdd(L.stack([s, s * 2], 1), bins=[2, 3]).hist,
        }

    _both(program)


def test_ranking_metrics_and_retrieval_ops() -> None:
    S = np.random.default_rng(8).standard_normal((5, 7)).astype(np.float32)

    def program(L):
        s = L.tensor(S)
        rank = (s > s.gather(1, L.tensor([[0]] * 5))).sum(1) + 1
        gains = L.tensor([[3.0, 2.0, 3.0, 0.0, 1.0, 2.0, 0.0]] * 5)
        disc = 1.0 / L.log2(L.arange(2, 9, dtype=L.float32))
        dcg = (gains.gather(1, L.argsort(s, dim=1, descending=True)) * disc).sum(1)
        idcg = (L.sort(gains, dim=1, descending=True).values * disc).sum(1)
        return {
            "topk": L.topk(s, 3, dim=1, largest=False, sorted=True),
            "recall": (L.topk(s, 3).indices == L.arange(5).unsqueeze(1)).any(dim=1).float().mean(),
            "mrr": (1.0 / rank.float()).mean(),
            "ndcg": dcg / idcg,
            "kth": L.kthvalue(s, 2, dim=1, keepdim=True),
            "tad": L.take_along_dim(s, L.argsort(s, dim=1)[:, :2], dim=1),
            "isin": L.isin(L.arange(10), L.tensor([1, 3, 5]), invert=True),
            "uniq": L.unique(L.tensor([[1, 2], [1, 2], [0, 1]]), dim=0, return_inverse=True, return_counts=True),
            "renorm": L.renorm(s, p=2, dim=0, maxnorm=1.0),
            "normalize0": L.nn.functional.normalize(L.zeros(2, 3), dim=1),
            "mode": L.mode(L.tensor([[1, 2, 2, 3], [4, 4, 5, 5]]), dim=1),
        }

    _both(program)


def test_standardisation_with_missing_values() -> None:
    def program(L):
        X_ = L.tensor(PTS.copy())
        X_[3, 1] = float("nan")
        X_[7, 0] = float("inf")
        mask = L.isnan(X_)
        Xf = L.nan_to_num(X_, nan=0.0, posinf=1e3, neginf=-1e3)
        mu = L.nanmean(X_, dim=0, keepdim=True)
        m1, s1 = Xf.mean(dim=0, keepdim=True), Xf.std(dim=0, keepdim=True, unbiased=False)
        mn, mx = Xf.min(0).values, Xf.amax(dim=0)
        med = L.nanmedian(X_, dim=0)
        return {
            "mask": mask,
            "impute": L.where(mask, mu.expand_as(X_), X_),
            "z": (Xf - m1) / (s1 + 1e-8),
            "std": Xf.std(0, True),
            "var_mean": L.var_mean(Xf, dim=0, correction=0),
            "std_mean": L.std_mean(Xf, 0, unbiased=True, keepdim=True),
            "minmax": (Xf - mn) / (mx - mn),
            "median": (med.values, med.indices),
            "q": L.nanquantile(X_, L.tensor([0.25, 0.75]), dim=0),
            "q2": L.quantile(Xf, 0.5, dim=0, interpolation="midpoint"),
            "rows": (mask.any(1).nonzero().squeeze(1), L.isfinite(X_).all(dim=1)),
        }

    _both(program)


# ------------------------------------------------------------------ losses
LA, LB, LC = (np.random.default_rng(3 + i).standard_normal((6, 4)).astype(np.float32) for i in range(3))
SIGN = np.array([1, -1, 1, 1, -1, -1], dtype=np.float32)
CLS = np.array([0, 3, 1, 2, 3, 0])


@pytest.mark.parametrize("red", ["mean", "sum", "none"])
def test_embedding_ranking_and_regression_losses(red: str) -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional
        a, b, c = (L.tensor(v, requires_grad=True) for v in (LA, LB, LC))
        y, w4 = L.tensor(SIGN), L.tensor([1.0, 2.0, 3.0, 4.0])
        sign_b, bin_b = L.tensor(np.sign(LB)), L.tensor((LB > 0).astype(np.float32))
        cos_dist = lambda u, v: 1 - F.cosine_similarity(u, v)  # noqa: E731
        out = {
            "triplet": nn.TripletMarginLoss(margin=0.5, p=2, swap=True, reduction=red)(a, b, c),
            "triplet_cos": nn.TripletMarginWithDistanceLoss(distance_function=cos_dist, margin=0.3, reduction=red)(
                a, b, c
            ),
            "triplet_d": nn.TripletMarginWithDistanceLoss(reduction=red, swap=True)(a, b, c),
            "cos": nn.CosineEmbeddingLoss(margin=0.2, reduction=red)(a, b, y),
            "rank": nn.MarginRankingLoss(margin=0.1, reduction=red)(a[:, 0], b[:, 0], y),
            "hinge": nn.HingeEmbeddingLoss(margin=1.5, reduction=red)(a, sign_b),
            "mm": nn.MultiMarginLoss(p=1, margin=1.0, weight=w4, reduction=red)(a, L.tensor(CLS)),
            "mm2": nn.MultiMarginLoss(p=2, reduction=red)(a, L.tensor(CLS)),
            "soft": nn.SoftMarginLoss(reduction=red)(a, sign_b),
            "mlsm": nn.MultiLabelSoftMarginLoss(weight=w4, reduction=red)(a, bin_b),
            "mlm": nn.MultiLabelMarginLoss(reduction=red)(a, L.tensor([[3, 0, -1, 1]] * 6)),
            "bce_pw": nn.BCEWithLogitsLoss(pos_weight=L.tensor([1.0, 2.0, 3.0, 0.5]), weight=w4, reduction=red)(
                a, bin_b
            ),
            "gnll": nn.GaussianNLLLoss(full=True, eps=1e-6, reduction=red)(a, b, c.exp()),
            "gnll1": nn.GaussianNLLLoss(reduction=red)(a, b, c.exp()[:, :1]),
            "pnll": nn.PoissonNLLLoss(log_input=True, full=True, reduction=red)(a, L.tensor(np.abs(LB) * 3)),
            "pnll2": nn.PoissonNLLLoss(log_input=False, eps=1e-4, reduction=red)(a.exp(), L.tensor(np.abs(LB) * 3)),
            "huber": nn.HuberLoss(reduction=red, delta=0.7)(a, b),
            "sl1": nn.SmoothL1Loss(reduction=red, beta=0.0)(a, b),
            "kl": F.kl_div(F.log_softmax(a, 1), F.softmax(b, 1), reduction="batchmean" if red == "mean" else red),
            "kl_log": F.kl_div(F.log_softmax(a, 1), F.log_softmax(b, 1), reduction="sum", log_target=True),
            "pd": F.pairwise_distance(a, b, p=3, eps=1e-6, keepdim=red == "sum"),
            "ce": F.cross_entropy(a, L.tensor(CLS), weight=w4, label_smoothing=0.2, reduction=red),
            "ce_prob": F.cross_entropy(a, F.softmax(b, 1), label_smoothing=0.1, reduction=red),
            "nll": F.nll_loss(F.log_softmax(a, 1), L.tensor(CLS), ignore_index=3, reduction=red),
        }
        sum(v.sum() for v in out.values()).backward()
        out["grads"] = (a.grad, b.grad, c.grad)
        return out

    _both(program, rtol=1e-4)


def test_focal_quantile_and_ordinal_losses() -> None:
    def program(L):
        F = L.nn.functional
        x = L.tensor(LA[:, 0], requires_grad=True)
        t = L.tensor((LB[:, 0] > 0).astype(np.float32))
        p = L.sigmoid(x)
        pt = p * t + (1 - p) * (1 - t)
        focal = (
            (0.25 * t + 0.75 * (1 - t)) * F.binary_cross_entropy_with_logits(x, t, reduction="none") * (1 - pt) ** 2
        ).mean()
        logits = L.tensor(LA, requires_grad=True)
        logp = F.log_softmax(logits, -1).gather(1, L.tensor(CLS).unsqueeze(1)).squeeze(1)
        focal_mc = (-((1 - logp.exp()) ** 2) * logp).mean()
        yhat = L.tensor(LA, requires_grad=True)
        e = L.tensor(LB) - yhat
        q = L.tensor([0.1, 0.5, 0.9, 0.95])
        pinball = L.max(q * e, (q - 1) * e).mean() + L.where(e >= 0, q * e, (q - 1) * e).mean()
        raw = L.tensor([0.0, 0.5, 0.3], requires_grad=True)
        thr = L.cumsum(F.softplus(raw, beta=2, threshold=10), dim=0)
        P = L.sigmoid(thr - yhat[:, :1])
        probs = L.cat([P[:, :1], P[:, 1:] - P[:, :-1], 1 - P[:, -1:]], dim=1)
        ordinal = -L.log(probs.gather(1, L.tensor(CLS[:, None])) + 1e-9).mean()
        (focal + focal_mc + pinball + ordinal).backward()
        return focal, focal_mc, pinball, ordinal, x.grad, logits.grad, yhat.grad, raw.grad, probs

    _both(program)


def test_contrastive_nt_xent_and_clip_losses() -> None:
    def program(L):
        F = L.nn.functional
        z1, z2 = L.tensor(LA, requires_grad=True), L.tensor(LB, requires_grad=True)
        z = F.normalize(L.cat([z1, z2], 0), dim=1, p=2)
        sim = z @ z.T / 0.5
        masked = sim.masked_fill(L.eye(12, dtype=L.bool), float("-inf"))
        filled = sim.clone()
        filled.fill_diagonal_(-1e9)
        tgt = L.cat([L.arange(6, 12), L.arange(0, 6)])
        nt_xent = F.cross_entropy(masked, tgt)
        by_hand = (-sim[L.arange(12), tgt] + L.logsumexp(masked, dim=1)).mean()
        logits = F.cosine_similarity(z1.unsqueeze(1), z2.unsqueeze(0), dim=2, eps=1e-8) / 0.07
        clip = (F.cross_entropy(logits, L.arange(6)) + F.cross_entropy(logits.t(), L.arange(6))) / 2
        (nt_xent + by_hand + F.cross_entropy(filled, tgt) + clip).backward()
        negatives = sim[~L.eye(12, dtype=bool)].view(12, 11)
        return nt_xent, by_hand, clip, z1.grad, z2.grad, negatives, L.ones(3, 3).fill_diagonal_(5, wrap=True)

    _both(program)


def test_distillation_mixup_and_label_smoothing() -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional
        s, t, T = L.tensor(LA, requires_grad=True), L.tensor(LB), 4.0
        kd = F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean") * T * T
        kd_log = nn.KLDivLoss(reduction="batchmean", log_target=True)(
            F.log_softmax(s / T, -1), F.log_softmax(t / T, -1)
        )
        y, lam, perm = L.tensor(CLS), 0.3, L.tensor([5, 4, 3, 2, 1, 0])
        xm = lam * s + (1 - lam) * s[perm]
        mix = lam * F.cross_entropy(xm, y) + (1 - lam) * F.cross_entropy(xm, y[perm])
        smooth = F.one_hot(y, 4).float() * 0.9 + 0.1 / 4
        ls = L.sum(-smooth * F.log_softmax(s, -1), -1).mean()
        (kd + kd_log + mix + ls).backward()
        oh = L.zeros(6, 4).scatter_(1, y.unsqueeze(1), 1.0)
        oh_add = L.zeros(6, 4).scatter_(1, y.unsqueeze(1), value=2.0, reduce="add")
        return kd, kd_log, mix, ls, s.grad, oh, oh_add, F.one_hot(L.tensor([[1, 2], [0, 1]]))

    _both(program)


# ------------------------------------------------------------------ torch.func ensembles, training loops
XE = np.random.default_rng(4).standard_normal((16, 5)).astype(np.float32)
YE = np.random.default_rng(5).standard_normal((16, 1)).astype(np.float32)


def test_model_ensembling_with_torch_func() -> None:
    def program(L):
        nn, func = L.nn, _sub(L, "func")
        models = [_load(L, nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)), seed) for seed in range(3)]
        params, buffers = func.stack_module_state(models)
        base = copy.deepcopy(models[0])

        def f(p, b, x):
            return func.functional_call(base, (p, b), (x,))

        x = L.tensor(XE)

        def loss_fn(p, b, x, y):
            return nn.functional.mse_loss(f(p, b, x), y)

        grads = func.vmap(func.grad(loss_fn), in_dims=(0, 0, None, None))(params, buffers, x, L.tensor(YE))
        return {
            "same": L.vmap(f, in_dims=(0, 0, None))(params, buffers, x),
            "diff": func.vmap(f)(params, buffers, L.stack([x, x * 2, x * 3])),
            "grads": grads,
            "ref": L.stack([m(x) for m in models]),
            "keys": sorted(params),
        }

    _both(program)


def test_per_sample_gradients_jacobian_and_hessian() -> None:
    def program(L):
        func = _sub(L, "func")
        m = _load(L, L.nn.Linear(5, 1), 1)
        params = {k: v.detach() for k, v in m.named_parameters()}

        def loss(p, x, y):
            return ((func.functional_call(m, p, (x.unsqueeze(0),)) - y.unsqueeze(0)) ** 2).mean()

        X_, Y_ = L.tensor(XE), L.tensor(YE)
        return {
            "per_sample": func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, X_, Y_),
            "jac": func.jacrev(lambda x: m(x))(X_[0]),
            "hess": func.hessian(lambda w: (X_ @ w - Y_[:, 0]).pow(2).sum())(L.zeros(5)),
            "gv": func.grad_and_value(loss)(params, X_[0], Y_[0]),
        }

    _both(program)


def test_early_stopping_with_deepcopied_state_dict() -> None:
    def program(L):
        nn = L.nn
        m = _load(L, nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)), 2)
        opt = L.optim.SGD(m.parameters(), lr=0.05)
        sched = L.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
        best, best_state, bad, hist = float("inf"), None, 0, []
        xt, yt, xv, yv = L.tensor(XE[:12]), L.tensor(YE[:12]), L.tensor(XE[12:]), L.tensor(YE[12:])
        for _ in range(8):
            m.train()
            opt.zero_grad()
            nn.functional.mse_loss(m(xt), yt).backward()
            opt.step()
            m.eval()
            with L.no_grad():
                val = nn.functional.mse_loss(m(xv), yv).item()
            sched.step(val)
            hist.append(val)
            if val < best - 1e-4:
                best, best_state, bad = val, copy.deepcopy(m.state_dict()), 0
            else:
                bad += 1
                if bad >= 3:
                    break
        m.load_state_dict(best_state)
        return hist, m.state_dict(), sched.get_last_lr(), best_state["1.num_batches_tracked"]

    _both(program)


def test_boosting_stumps_and_linear_svm() -> None:
    def program(L):
        F = L.nn.functional
        x, y = L.tensor(XE[:, 0]), L.tensor(YE[:, 0])
        pred = L.full_like(y, y.mean().item())
        stumps = []
        for _ in range(4):
            r = y - pred
            best = None
            for t in L.quantile(x, L.tensor([0.25, 0.5, 0.75])):
                left = x <= t
                lv, rv = r[left].mean(), r[~left].mean()
                err = ((r - L.where(left, lv, rv)) ** 2).sum()
                if best is None or err < best[0]:
                    best = (err, t, lv, rv)
            _, t, lv, rv = best
            pred = pred + 0.5 * L.where(x <= t, lv, rv)
            stumps.append(L.stack([t, lv, rv]))
        xs, ys = L.tensor(XE[:, :2]), L.tensor(np.sign(XE[:, 2]))
        w, b = L.zeros(2, requires_grad=True), L.zeros((), requires_grad=True)
        opt = L.optim.SGD([w, b], lr=0.1)
        for _ in range(10):
            opt.zero_grad()
            f = xs @ w + b
            loss = F.relu(1 - ys * f).mean() + 0.01 * (w * w).sum() + L.clamp(1 - ys * f, min=0).pow(2).mean()
            loss.backward()
            opt.step()
        scores = L.stack([xs @ w, -(xs @ w)], 1).detach()
        return (
            pred,
            L.stack(stumps),
            w,
            b,
            loss,
            F.soft_margin_loss(xs @ w, ys),
            F.multi_margin_loss(scores, (ys > 0).long()),
        )

    _both(program)


def test_weighted_sampler_and_splits_shapes() -> None:
    labels = np.array([0] * 12 + [1] * 4)
    weights = 1.0 / np.bincount(labels)[labels]

    def program(L):
        data = _sub(L, "utils.data")
        ds = data.TensorDataset(L.tensor(XE), L.tensor(labels))
        s = data.WeightedRandomSampler(weights=L.tensor(weights, dtype=L.double), num_samples=20, replacement=True)
        dl = data.DataLoader(ds, batch_size=5, sampler=s)
        picks = list(data.WeightedRandomSampler(weights.tolist(), 8, replacement=False))
        bs = data.BatchSampler(data.SequentialSampler(ds), batch_size=6, drop_last=True)
        tr, va = data.random_split(ds, [0.75, 0.25])
        return {
            "len": (len(s), len(list(s))),
            "shapes": [tuple(xb.shape) + tuple(yb.shape) for xb, yb in dl],
            "no_repl": (len(picks), len(set(picks))),
            "batches": list(bs),
            "split": (len(tr), len(va)),
            "sub": data.Subset(ds, [0, 3, 5])[1][1],
            "bsizes": [b[0].shape[0] for b in data.DataLoader(ds, batch_sampler=bs)],
        }

    _both(program)


def test_embedding_max_norm_renorms_in_place() -> None:
    W = (np.random.default_rng(6).standard_normal((5, 3)) * 2).astype(np.float32)

    def program(L):
        nn, F = L.nn, L.nn.functional
        weight = L.tensor(W.copy())
        idx = L.tensor([[0, 2, 2], [4, 1, 0]])
        out = F.embedding(idx, weight, max_norm=1.0, norm_type=2.0)
        e = nn.Embedding(5, 3, max_norm=0.5, padding_idx=1, scale_grad_by_freq=True)
        e.weight.data.copy_(L.tensor(W))
        o2 = e(idx)
        o2.sum().backward()
        frozen = nn.Embedding.from_pretrained(L.tensor(W), freeze=True, max_norm=2.0)
        return out, weight, o2, e.weight, e.weight.grad, frozen(idx), frozen.weight.requires_grad

    _both(program)


def test_vae_kl_terms_with_distributions() -> None:
    E = np.random.default_rng(1).standard_normal((9, 3)).astype(np.float32)
    eps = np.random.default_rng(3).standard_normal((9, 2)).astype(np.float32)

    def program(L):
        D = L.distributions
        mu, logvar = L.tensor(E[:, :2], requires_grad=True), L.tensor(E[:, 1:], requires_grad=True)
        z = mu + L.tensor(eps) * L.exp(0.5 * logvar)
        kld = -0.5 * L.sum(1 + logvar - mu.pow(2) - logvar.exp())
        q, p = D.Normal(mu, (0.5 * logvar).exp()), D.Normal(L.zeros_like(mu), L.ones_like(mu))
        kl = D.kl_divergence(q, p).sum()
        kl_ind = D.kl_divergence(D.Independent(q, 1), D.Independent(p, 1)).sum()
        mvn = D.MultivariateNormal(L.zeros(2), covariance_matrix=L.tensor([[2.0, 0.5], [0.5, 1.0]]))
        bern = D.Bernoulli(logits=mu)
        total = kld + kl + kl_ind + q.log_prob(z).sum() + bern.log_prob((mu > 0).float()).sum() + mvn.log_prob(z).sum()
        total.backward()
        cat = D.Categorical(logits=L.tensor(E[:3]))
        return kld, kl, kl_ind, mu.grad, logvar.grad, cat.entropy(), cat.log_prob(L.tensor([0, 1, 2])), mvn.entropy()

    _both(program)


def test_tabular_model_with_categorical_embeddings() -> None:
    def program(L):
        nn, F = L.nn, L.nn.functional

        class TabNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.embs = nn.ModuleDict({"a": nn.Embedding(5, 3), "b": nn.Embedding(4, 2)})
                self.bn = nn.BatchNorm1d(3)
                self.mlp = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.SiLU(), nn.Linear(16, 3))
                self.bil = nn.Bilinear(3, 2, 4)

            def forward(self, num, cat):
                e = [self.embs[k](cat[:, j]) for j, k in enumerate(["a", "b"])]
                return self.mlp(L.cat([self.bn(num)] + e, dim=1)), self.bil(e[0], e[1])

        m = _load(L, TabNet(), 4)
        rs = np.random.default_rng(4)
        num = L.tensor(rs.standard_normal((8, 3)).astype(np.float32))
        cat = L.tensor(np.stack([rs.integers(0, 5, 8), rs.integers(0, 4, 8)], 1))
        y = L.tensor(rs.integers(0, 3, 8))
        opt = L.optim.RMSprop(m.parameters(), lr=1e-2, momentum=0.5, centered=True)
        sched = L.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=6)
        for _ in range(5):
            opt.zero_grad()
            out, b = m(num, cat)
            loss = F.cross_entropy(out, y) + b.pow(2).mean()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(m.parameters(), max_norm=1.0)
            nn.utils.clip_grad_value_(m.parameters(), 0.5)
            opt.step()
            sched.step()
        m.eval()
        with L.no_grad():
            probs = m(num, cat)[0].softmax(-1)
        return loss, norm, m.state_dict(), probs, probs.argmax(-1), sched.get_last_lr()

    _both(program, rtol=1e-4)


# ------------------------------------------------------------------ the slips a new user makes: torch's exceptions
def _raises_as_torch(make) -> None:
    """``make(L)`` raises in torch; backprop raises an exception of the same class whose message starts
    with torch's (up to its final full stop)."""
    with pytest.raises(Exception) as theirs:
        make(real_torch)
    with pytest.raises(Exception) as ours:
        make(backprop)
    assert isinstance(ours.value, type(theirs.value)), (type(ours.value), type(theirs.value), str(ours.value))
    assert str(ours.value).startswith(str(theirs.value).rstrip(".")), (str(ours.value), str(theirs.value))


def _F(L):
    return L.nn.functional


@pytest.mark.parametrize(
    "make",
    [
        lambda L: _F(L).binary_cross_entropy(L.tensor([0.2, 0.7]), L.tensor([1, 0])),  # int64 labels
        lambda L: _F(L).binary_cross_entropy(L.tensor([0.2, 0.7]), L.tensor([1.0, 0.0], dtype=L.float64)),
        lambda L: L.nn.BCELoss()(L.tensor([0.2, 0.7], dtype=L.float64), L.tensor([1.0, 0.0])),
        lambda L: _F(L).binary_cross_entropy(L.tensor([0.2, 0.7]), L.tensor([True, False])),
        lambda L: _F(L).binary_cross_entropy(L.tensor([0, 1]), L.tensor([1, 0])),
        lambda L: _F(L).binary_cross_entropy_with_logits(L.tensor([0.2, 0.7]), L.tensor([1, 0])),
        lambda L: L.nn.BCEWithLogitsLoss(pos_weight=L.tensor([2.0]))(L.tensor([0.2, 0.7]), L.tensor([1, 0])),
        lambda L: _F(L).binary_cross_entropy_with_logits(L.tensor([0.2, 0.7]), L.tensor([1, 0], dtype=L.int32)),
        lambda L: _F(L).binary_cross_entropy_with_logits(L.tensor([0.2, 0.7]), L.tensor([True, False])),
        lambda L: _F(L).binary_cross_entropy_with_logits(L.tensor([0, 1]), L.tensor([1.0, 0.0])),
    ],
)
def test_binary_cross_entropy_dtype_slips_raise_as_torch(make) -> None:
    _raises_as_torch(make)


def test_binary_cross_entropy_weight_keeps_the_input_dtype() -> None:
    def program(L):
        F = _F(L)
        p, t = L.tensor([0.2, 0.7]), L.tensor([1.0, 0.0])
        return F.binary_cross_entropy(p, t, weight=L.tensor([1.0, 2.0], dtype=L.float64)), F.binary_cross_entropy(
            p, t, weight=L.tensor([1, 2])
        )

    _both(program)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: _F(L).cross_entropy(L.zeros(2, 3, dtype=L.long), L.tensor([0, 1])),
        lambda L: _F(L).cross_entropy(L.zeros(2, 3, 4, dtype=L.long), L.zeros(2, 4, dtype=L.long)),
        lambda L: _F(L).cross_entropy(L.zeros(2, 3), L.zeros(2, 3, dtype=L.long)),  # one-hot ids as "probabilities"
        lambda L: _F(L).cross_entropy(L.zeros(2, 3), L.zeros(2, 3, dtype=L.bool)),
        lambda L: _F(L).nll_loss(L.zeros(2, 3, dtype=L.long), L.tensor([0, 1])),
        lambda L: _F(L).nll_loss(L.zeros(2, 3, 4, dtype=L.int32), L.zeros(2, 4, dtype=L.long)),
        lambda L: _F(L).logsigmoid(L.tensor([1, 2])),
        lambda L: L.nn.LogSigmoid()(L.tensor([True])),
        lambda L: _F(L).kl_div(L.zeros(2, 3, dtype=L.long), L.zeros(2, 3), reduction="batchmean"),
        lambda L: _F(L).kl_div(L.zeros(2, 3), L.zeros(2, 3, dtype=L.int32), reduction="batchmean", log_target=True),
        lambda L: _F(L).mse_loss(L.tensor([1, 2]), L.tensor([1, 3])),
        lambda L: L.nn.MSELoss()(L.tensor([1, 2], dtype=L.int32), L.tensor([1, 3], dtype=L.int32)),
        lambda L: _F(L).huber_loss(L.tensor([1, 2]), L.tensor([1, 3])),
        lambda L: _F(L).smooth_l1_loss(L.tensor([1, 2]), L.tensor([1, 3])),
        lambda L: _F(L).mse_loss(L.tensor([True]), L.tensor([False])),
        lambda L: L.nn.HuberLoss(delta=-1.0)(L.zeros(2), L.zeros(2)),
        lambda L: _F(L).huber_loss(L.zeros(2), L.zeros(2), delta=0.0),
        lambda L: L.nn.SmoothL1Loss(beta=-0.5)(L.zeros(2), L.zeros(2)),
    ],
)
def test_loss_dtype_and_parameter_slips_raise_as_torch(make) -> None:
    _raises_as_torch(make)


def test_regression_losses_still_take_float_input_with_integer_target() -> None:
    def program(L):
        F = _F(L)
        x, t = L.tensor([1.0, 2.5]), L.tensor([1, 3])
        return F.mse_loss(x, t), F.huber_loss(x, t), F.smooth_l1_loss(x, t), F.mse_loss(t, x), F.smooth_l1_loss(t, x)

    _both(program)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: _F(L).one_hot(L.tensor([1, 0], dtype=L.int32)),
        lambda L: _F(L).one_hot(L.tensor([1, 0], dtype=L.uint8)),
        lambda L: _F(L).one_hot(L.tensor([], dtype=L.long)),
    ],
)
def test_one_hot_slips_raise_as_torch(make) -> None:
    _raises_as_torch(make)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.bincount(L.tensor([1.0, 2.0])),
        lambda L: L.bincount(L.tensor([True, False])),
        lambda L: L.tensor([0.5]).bincount(),
        lambda L: L.triu_indices(-1, 3),
        lambda L: L.tril_indices(3, -2),
        lambda L: L.triu_indices(3, 3, dtype=L.float32),
        lambda L: L.tril_indices(3, 3, dtype=L.int16),
        lambda L: L.cartesian_prod(),
        lambda L: L.vander(L.arange(3.0), N=-1),
        lambda L: L.cov(L.tensor([[1.0, 2.0, 4.0]]), fweights=L.tensor([1, -2, 1])),
        lambda L: L.cov(L.tensor([[1.0, 2.0, 4.0]]), aweights=L.tensor([1.0, -2.0, 1.0])),
        lambda L: L.cov(L.tensor([[1.0, 2.0, 4.0]]), fweights=L.tensor([[1, 2, 1]])),
        lambda L: L.cov(L.tensor([[1.0, 2.0, 4.0]]), aweights=L.tensor([1.0, 2.0])),
        lambda L: L.tensor([]).argmin(),
        lambda L: L.zeros(0, 3).argmax(0),
        lambda L: L.argmin(L.zeros(3, 0), dim=1, keepdim=True),
        lambda L: L.zeros(0, 3).max(0),
        lambda L: L.zeros(2, 0).min(dim=-1),
        lambda L: L.zeros(0, 3).median(0),
        lambda L: L.nanmedian(L.zeros(0, 3), 0),
        lambda L: L.zeros(0, 3).mode(0),
        lambda L: L.cdist(L.zeros(2, 3), L.zeros(2, 3, dtype=L.float64)),
        lambda L: L.cdist(L.zeros(2, 3, dtype=L.float64), L.zeros(4, 3)),
    ],
)
def test_feature_and_counting_slips_raise_as_torch(make) -> None:
    _raises_as_torch(make)


def test_vander_of_any_integer_dtype_is_int64() -> None:
    def program(L):
        return [L.vander(L.tensor([1, 2, 3], dtype=dt)) for dt in (L.int32, L.int16, L.uint8, L.int8, L.bool)] + [
            L.triu_indices(3, 4, 1, dtype=L.int32),
            L.tril_indices(0, 3),
        ]

    _both(program)


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays:UserWarning")  # torch's
def test_tensor_from_lists_of_numpy_doubles_keeps_float64() -> None:
    """``torch.tensor(list_of_rows)`` promotes its items' types: NumPy float64 rows (``df.values`` rows, ``np.mean``
    results) stay float64 among Python floats, which alone give float32."""
    row = np.array([1.5, 2.0])

    def program(L):
        return [
            L.tensor([np.float64(1.0), 2.0]),
            L.tensor([row, row * 2]),
            L.tensor([np.array([1.0], dtype=np.float32), np.array([2.0])]),
            L.tensor([[1.0, np.float64(2.0)]]),
            L.tensor([L.tensor(1.0, dtype=L.float64), 2.0]),
            L.tensor([np.float64(1.0), 1j]),
            L.tensor([2.0, np.float32(1.0)]),
            L.tensor([1.0, 2.0]),
            L.tensor([np.int32(1)]),
            L.tensor([np.float16(1.0)]),
        ]

    _both(program)


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.tensor(np.array([1, "a"], dtype=object)),  # a mixed-type DataFrame's .values
        lambda L: L.as_tensor(np.array([1.0, None], dtype=object)),
        lambda L: L.from_numpy(np.array([1, 2], dtype=object)),
        lambda L: L.tensor(np.array(["a", "b"])),
    ],
)
def test_object_and_string_arrays_raise_as_torch(make) -> None:
    _raises_as_torch(make)
