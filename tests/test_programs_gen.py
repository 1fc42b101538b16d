"""Generative, probabilistic and scientific programs as a new user writes them (a VAE, a GAN step, WGAN-GP,
flows, a mixture density network, a PINN, a Gaussian process, ...), run once with PyTorch and once with
``backprop`` standing in for ``torch`` (the module is passed in), from the same initial weights and the same
noise (made with NumPy): outputs, losses and gradients agree. Then focused regressions for the gaps these
programs found (each checked against torch or a closed form).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")


def _np(x):
    """Tensors (nested in lists, tuples and dicts) as NumPy arrays; Sizes as tuples; dtypes by name."""
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not type(x).__name__ == "Size":
        return [_np(v) for v in x]
    if type(x).__name__ == "Size":
        return tuple(x)
    if hasattr(x, "detach"):
        return np.asarray(x.detach().numpy())
    if "dtype" in type(x).__name__:
        return str(x).removeprefix("torch.")
    return x


def _close(ours, theirs, rtol: float, path: str = "out") -> None:
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), path
        for k in theirs:
            _close(ours[k], theirs[k], rtol, f"{path}.{k}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), path
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), path
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol), path
    else:
        assert ours == theirs, path


def same_as_torch(program, rtol: float) -> None:
    """``program(lib)`` run with backprop and with torch gives the same results (to ``rtol``); torch's deprecation
    warnings from its own internals (jit.script in torch.func, triangular_solve) are not the program's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _np(program(torch))
    _close(_np(program(bp)), theirs, rtol)


def raises_as_torch(call) -> None:
    """``call(lib)`` raises with torch and with backprop: an instance of torch's class, with torch's message."""
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(theirs.type) as ours:
        call(bp)
    assert str(ours.value) == str(theirs.value)


def _state(module) -> dict:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _load(lib, module, state: dict):
    module.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return module


# ====================================================================== the programs

RNG = np.random.default_rng(2024)
X_BIN = (RNG.random((16, 12)) > 0.5).astype(np.float32)
EPS = RNG.standard_normal((16, 3)).astype(np.float32)


def make_vae(lib):
    nn = lib.nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(12, 8), nn.ReLU())
            self.mu, self.logvar = nn.Linear(8, 3), nn.Linear(8, 3)
            self.dec = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 12))

        def forward(self, x, eps):
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + eps * lib.exp(0.5 * logvar)
            return self.dec(z), mu, logvar

    return VAE()


def test_vae_training_steps():
    """Reparameterised VAE: BCE/MSE reconstructions with reduction="sum", the closed-form KL and the same KL through
    kl_divergence(Normal, Normal) and Independent, Adam steps."""
    state = _state(make_vae(torch))

    def program(lib):
        F, D = lib.nn.functional, lib.distributions
        m = _load(lib, make_vae(lib), state)
        opt = lib.optim.Adam(m.parameters(), lr=1e-2)
        x, eps = lib.tensor(X_BIN), lib.tensor(EPS)
        out = []
        for _ in range(3):
            opt.zero_grad()
            logits, mu, logvar = m(x, eps)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            rec2 = F.binary_cross_entropy(lib.sigmoid(logits), x, reduction="sum")
            mse = F.mse_loss(lib.sigmoid(logits), x, reduction="sum")
            kld = -0.5 * lib.sum(1 + logvar - mu.pow(2) - logvar.exp())
            q = D.Normal(mu, lib.exp(0.5 * logvar))
            p = D.Normal(lib.zeros_like(mu), lib.ones_like(mu))
            qi, pi = D.Independent(q, 1), D.Independent(p, 1)
            kl_ind = D.kl_divergence(qi, pi)
            lp = qi.log_prob(mu + eps * q.stddev)
            (rec + kld).backward()
            out += [rec, rec2, mse, kld, D.kl_divergence(q, p).sum(), kl_ind, lp, qi.batch_shape, qi.event_shape]
            out.append(m.mu.weight.grad.clone())
            opt.step()
        return out + [m.state_dict()]

    same_as_torch(program, 1e-4)


def make_gan(lib):
    nn = lib.nn
    g = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 12))
    d = nn.Sequential(nn.Linear(12, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return g, d


def test_gan_steps():
    """BCEWithLogitsLoss, fake.detach() for D's step, requires_grad_(False) on D for G's step, two Adams,
    zero_grad(set_to_none=False)."""
    tg, td = make_gan(torch)
    gstate, dstate = _state(tg), _state(td)

    def program(lib):
        g, d = make_gan(lib)
        _load(lib, g, gstate), _load(lib, d, dstate)
        crit = lib.nn.BCEWithLogitsLoss()
        opt_g = lib.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = lib.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real, z = lib.tensor(X_BIN), lib.tensor(EPS)
        out = []
        for _ in range(3):
            fake = g(z)
            opt_d.zero_grad(set_to_none=False)
            loss_real = crit(d(real), lib.ones(real.size(0), 1))
            loss_fake = crit(d(fake.detach()), lib.zeros(real.size(0), 1))
            (loss_real + loss_fake).backward()
            opt_d.step()
            for p in d.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad(set_to_none=False)
            loss_g = crit(d(fake), lib.full((real.size(0), 1), 1.0))
            loss_g.backward()
            opt_g.step()
            for p in d.parameters():
                p.requires_grad_(True)
            out += [loss_real, loss_fake, loss_g, d[0].weight.grad.clone(), g[0].weight.grad.clone()]
        return out + [g.state_dict(), d.state_dict()]

    same_as_torch(program, 1e-4)


def test_wgan_gradient_penalty():
    """autograd.grad(outputs, inputs, grad_outputs=ones_like, create_graph=True, retain_graph=True), .norm(2, dim=1)."""
    dstate = _state(make_gan(torch)[1])
    alpha = np.linspace(0, 1, 16, dtype=np.float32)[:, None]

    def program(lib):
        d = _load(lib, make_gan(lib)[1], dstate)
        real, fake = lib.tensor(X_BIN), lib.tensor(X_BIN[::-1] * 0.5)
        a = lib.tensor(alpha)
        interp = (a * real + (1 - a) * fake).requires_grad_(True)
        out = d(interp)
        (g,) = lib.autograd.grad(
            outputs=out, inputs=interp, grad_outputs=lib.ones_like(out), create_graph=True, retain_graph=True
        )
        gp = ((g.norm(2, dim=1) - 1) ** 2).mean()
        loss = d(fake).mean() - d(real).mean() + 10 * gp
        loss.backward()
        return [g, gp, loss, [p.grad for p in d.parameters()], interp.grad]

    same_as_torch(program, 1e-4)


X2 = RNG.standard_normal((10, 2))


def test_flow_transformed_distribution():
    """A flow: TransformedDistribution over Independent(Normal) with AffineTransform(event_dim=1), ComposeTransform
    with TanhTransform, log_prob and its gradient, inverses and log|det J|."""

    def program(lib):
        D = lib.distributions
        T = D.transforms
        loc = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        log_scale = lib.tensor([0.1, 0.3], dtype=lib.float64, requires_grad=True)
        base = D.Independent(D.Normal(lib.zeros(2, dtype=lib.float64), lib.ones(2, dtype=lib.float64)), 1)
        flow = D.TransformedDistribution(base, [T.AffineTransform(loc, log_scale.exp(), event_dim=1)])
        lp = flow.log_prob(lib.tensor(X2))
        lp.sum().backward()
        tr = T.ComposeTransform([T.AffineTransform(loc, log_scale.exp(), event_dim=1), T.TanhTransform(cache_size=1)])
        squashed = D.TransformedDistribution(base, tr)
        y = lib.tensor(np.tanh(X2) * 0.9)
        return [
            lp,
            loc.grad,
            log_scale.grad,
            squashed.log_prob(y),
            flow.batch_shape,
            flow.event_shape,
            tr.inv(y),
            tr.log_abs_det_jacobian(tr.inv(y), y),
            tuple(flow.rsample((4, 3)).shape),
            tr.event_dim,
        ]

    same_as_torch(program, 1e-10)


def test_flow_transforms_zoo():
    def program(lib):
        D = lib.distributions
        T = D.transforms
        x = lib.tensor([0.5, 1.0, 2.0])
        log_normal = D.TransformedDistribution(D.Normal(lib.zeros(3), lib.ones(3)), [T.ExpTransform()])
        logistic = D.TransformedDistribution(
            D.Uniform(lib.zeros(3), lib.ones(3)), [T.SigmoidTransform().inv, T.AffineTransform(1.0, 2.0)]
        )
        return [
            log_normal.log_prob(x),
            logistic.log_prob(x),
            log_normal.cdf(x),
            log_normal.icdf(lib.tensor([0.1, 0.5, 0.9])),
            T.StackTransform([T.ExpTransform(), T.identity_transform], dim=1)(lib.ones(2, 2)),
            T.CatTransform([T.ExpTransform(), T.SoftplusTransform()], dim=0, lengths=[1, 2])(lib.arange(3.0)),
            T.StickBreakingTransform()(lib.zeros(2)),
            T.PowerTransform(2.0)(x),
            T.LowerCholeskyTransform()(lib.ones(2, 2)),
            T.CorrCholeskyTransform()(lib.tensor([0.1, 0.2, 0.3])),
            T.CumulativeDistributionTransform(D.Normal(0.0, 1.0))(x),
            T.ReshapeTransform((4,), (2, 2))(lib.arange(4.0)),
            T.PositiveDefiniteTransform()(lib.eye(2)),
            T.IndependentTransform(T.ExpTransform(), 1).log_abs_det_jacobian(x, x.exp()),
        ]

    same_as_torch(program, 1e-5)


MDN_PI = RNG.standard_normal((6, 3)).astype(np.float32)
MDN_MU = RNG.standard_normal((6, 3, 2)).astype(np.float32)
MDN_S = RNG.standard_normal((6, 3, 2)).astype(np.float32)
MDN_Y = RNG.standard_normal((6, 2)).astype(np.float32)


def test_mixture_density_network_loss():
    """MixtureSameFamily(Categorical(logits=...), Independent(Normal(mu, softplus(s)), 1)): NLL and its gradients,
    mean/variance, a 1-D mixture's cdf."""

    def program(lib):
        D, F = lib.distributions, lib.nn.functional
        pi = lib.tensor(MDN_PI, requires_grad=True)
        mu = lib.tensor(MDN_MU, requires_grad=True)
        s = lib.tensor(MDN_S, requires_grad=True)
        mix = D.Categorical(logits=pi)
        gmm = D.MixtureSameFamily(mix, D.Independent(D.Normal(mu, F.softplus(s) + 1e-3), 1))
        lp = gmm.log_prob(lib.tensor(MDN_Y))
        (-lp.mean()).backward()
        g1 = D.MixtureSameFamily(
            D.Categorical(probs=lib.tensor([0.3, 0.7])), D.Normal(lib.tensor([0.0, 1.0]), lib.tensor([1.0, 2.0]))
        )
        return [
            lp,
            pi.grad,
            mu.grad,
            s.grad,
            gmm.mean,
            gmm.variance,
            gmm.batch_shape,
            gmm.event_shape,
            tuple(gmm.sample((5,)).shape),
            mix.probs,
            mix.entropy(),
            g1.cdf(lib.tensor([0.2, 1.5])),
            g1.mean,
            g1.variance,
        ]

    same_as_torch(program, 1e-5)


PINN_X = RNG.random((8, 2))


def make_pinn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1)).double()


def test_pinn_with_lbfgs_strong_wolfe():
    """u_xx + u_yy through autograd.grad twice (create_graph=True), then LBFGS(line_search_fn="strong_wolfe") on a
    closure whose loss is a Laplacian residual."""
    state = _state(make_pinn(torch))

    def program(lib):
        net = _load(lib, make_pinn(lib), state)
        xy = lib.tensor(PINN_X, requires_grad=True)
        u = net(xy)
        (du,) = lib.autograd.grad(u, xy, lib.ones_like(u), create_graph=True)
        ux, uy = du[:, 0:1], du[:, 1:2]
        uxx = lib.autograd.grad(ux, xy, lib.ones_like(ux), create_graph=True)[0][:, 0:1]
        uyy = lib.autograd.grad(uy.sum(), xy, create_graph=True)[0][:, 1:]
        residual = uxx + uyy - lib.sin(lib.pi * xy[:, :1])
        opt = lib.optim.LBFGS(net.parameters(), lr=0.5, max_iter=5, line_search_fn="strong_wolfe", history_size=5)

        def closure():
            opt.zero_grad()
            pts = xy.detach().requires_grad_()
            (g,) = lib.autograd.grad(net(pts).sum(), pts, create_graph=True)
            lap = sum(lib.autograd.grad(g[:, i].sum(), pts, create_graph=True)[0][:, i] for i in range(2))
            loss = (lap - 1).pow(2).mean()
            loss.backward()
            return loss

        losses = [opt.step(closure) for _ in range(2)]
        return [u, du, uxx, uyy, residual.pow(2).mean(), losses, net.state_dict()]

    same_as_torch(program, 1e-8)


def test_func_transforms_on_a_network():
    """torch.func: vmap(jacrev), vmap(hessian), grad over functional_call's params, per-sample gradients,
    stack_module_state ensembles; torch.autograd.functional jacobian/hessian/jvp/vjp/hvp."""
    state = _state(make_pinn(torch))

    def program(lib):
        fn, AF = lib.func, lib.autograd.functional
        net = _load(lib, make_pinn(lib), state)
        params = {k: v.detach() for k, v in net.named_parameters()}
        x = lib.tensor(PINN_X)

        def f(p, xi):
            return fn.functional_call(net, p, (xi,)).squeeze()

        ones = lib.ones(2, dtype=lib.float64)
        return [
            fn.vmap(fn.jacrev(f, argnums=1), in_dims=(None, 0))(params, x),
            fn.vmap(fn.hessian(f, argnums=1), in_dims=(None, 0))(params, x),
            fn.grad(lambda p: fn.functional_call(net, p, (x,)).pow(2).mean())(params),
            fn.vmap(fn.grad(lambda p, xi: f(p, xi)), in_dims=(None, 0))(params, x),
            fn.vmap(lambda p, b, xx: fn.functional_call(net, (p, b), (xx,)), in_dims=(0, 0, None))(
                *fn.stack_module_state([net, net]), x
            ),
            AF.jacobian(lambda a: net(a).squeeze(-1), x[:3]),
            AF.jacobian(lambda a: net(a), x[:2], vectorize=True),
            AF.hessian(lambda a: net(a).sum(), x[0]),
            AF.jvp(lambda a: net(a), x[:2], lib.ones(2, 2, dtype=lib.float64)),
            AF.vjp(lambda a: net(a), x[:2], lib.ones(2, 1, dtype=lib.float64)),
            AF.hvp(lambda a: net(a).sum(), x[0], ones),
            AF.vhp(lambda a: net(a).sum(), x[0], ones),
            fn.jacfwd(lambda a: lib.sin(a) * a.sum())(x[0]),
        ]

    same_as_torch(program, 1e-10)


SPD = RNG.standard_normal((5, 5))
SPD = SPD @ SPD.T + 5 * np.eye(5)
RHS = RNG.standard_normal((5, 2))
GP_X, GP_Y = RNG.standard_normal((7, 3)), RNG.standard_normal(7)


def test_linear_algebra_values_and_gradients():
    def program(lib):
        L = lib.linalg
        a = lib.tensor(SPD, requires_grad=True)
        b = lib.tensor(RHS)
        chol = L.cholesky(a)
        out = [
            L.solve(a, b),
            chol,
            L.qr(a).Q.abs(),
            L.eigh(a).eigenvalues,
            L.lstsq(a, b).solution,
            L.norm(a),
            L.norm(a, 2),
            L.matrix_norm(a, "nuc"),
            L.det(a),
            L.slogdet(a),
            lib.logdet(a),
            L.vector_norm(b, ord=3, dim=0),
            L.cond(a),
            L.pinv(b),
            L.svdvals(b),
            L.multi_dot([a, b, b.T]),
            lib.cdist(b, b),
            lib.cdist(b, b, p=1),
            L.solve_triangular(chol, b, upper=False),
            lib.cholesky_solve(b, chol),
            lib.cholesky_inverse(chol),
            lib.triangular_solve(b, chol, upper=False).solution,
            L.matrix_exp(a / 10),
        ]
        loss = sum(o.sum() for o in out if isinstance(o, type(a)) and o.requires_grad)
        loss = loss + L.slogdet(a).logabsdet
        (g,) = lib.autograd.grad(loss, a)
        return out + [g]

    same_as_torch(program, 1e-9)


def test_gaussian_process_log_marginal_likelihood():
    """An RBF kernel by broadcasting, cholesky + cholesky_solve, the log marginal likelihood's gradient in the
    hyperparameters, and MultivariateNormal(covariance_matrix=K).log_prob as a cross-check."""

    def program(lib):
        f64 = lib.float64
        x, y = lib.tensor(GP_X), lib.tensor(GP_Y)
        ls, sf, sn = (lib.tensor(v, dtype=f64, requires_grad=True) for v in (0.7, 1.3, 0.1))
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        k = sf**2 * lib.exp(-0.5 * d2 / ls**2) + sn**2 * lib.eye(7, dtype=f64)
        chol = lib.linalg.cholesky(k)
        alpha = lib.cholesky_solve(y.unsqueeze(-1), chol)
        lml = -0.5 * (y.unsqueeze(-1) * alpha).sum() - lib.log(lib.diagonal(chol)).sum() - 3.5 * math.log(2 * math.pi)
        lml.backward()
        mvn = lib.distributions.MultivariateNormal(lib.zeros(7, dtype=f64), covariance_matrix=k.detach())
        return [lml, ls.grad, sf.grad, sn.grad, mvn.log_prob(y), lib.exp(-lib.cdist(x, x).pow(2) / 2)]

    same_as_torch(program, 1e-10)


def test_custom_autograd_functions():
    """ctx.save_for_backward, ctx.needs_input_grad, mark_non_differentiable, once_differentiable, the setup_context
    style (forward without ctx), double backward through a custom Function, gradcheck/gradgradcheck, vmap."""

    def program(lib):
        once = lib.autograd.function.once_differentiable

        class Clamp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, lo, hi):
                ctx.save_for_backward(x)
                ctx.lo, ctx.hi = lo, hi
                idx = (x > 0).long()
                ctx.mark_non_differentiable(idx)
                return x.clamp(lo, hi), idx

            @staticmethod
            @once
            def backward(ctx, g, gidx):
                (x,) = ctx.saved_tensors
                gx = g * ((x >= ctx.lo) & (x <= ctx.hi)) if ctx.needs_input_grad[0] else None
                return gx, None, None

        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(x, k):
                return x**3 * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])
                ctx.k = inputs[1]

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x**2 * g * ctx.k, None

            @staticmethod
            def vmap(info, in_dims, x, k):
                return Cube.apply(x, k), in_dims[0]

        x = lib.tensor([-2.0, -0.5, 0.3, 1.5], requires_grad=True)
        y, idx = Clamp.apply(x, -1.0, 1.0)
        (y * lib.arange(4.0)).sum().backward()
        out = [y, idx, x.grad, idx.requires_grad]
        yy, _ = Clamp.apply(x, -1.0, 1.0)
        (g,) = lib.autograd.grad((yy * yy).sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match="once_differentiable"):
            g.sum().backward()
        x2 = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        z = Cube.apply(x2, 2.0)
        (g1,) = lib.autograd.grad(z.sum(), x2, create_graph=True)
        (g2,) = lib.autograd.grad(g1.sum(), x2)
        checks = [lib.autograd.gradcheck(lambda t: Cube.apply(t, 2.0), (x2,))]
        checks.append(lib.autograd.gradgradcheck(lambda t: Cube.apply(t, 2.0), (x2,)))
        return out + [z, g1, g2, checks, lib.func.vmap(lambda v: Cube.apply(v, 2.0))(lib.ones(3, 2))]

    same_as_torch(program, 1e-6)


def test_distribution_zoo_shapes_and_moments():
    """batch/event shapes, sample shapes with sample_shape, mean/variance/stddev/mode, entropy, log_prob, expand."""

    def program(lib):
        D = lib.distributions
        t = lib.tensor
        dists = [
            D.Normal(lib.zeros(2, 3), lib.ones(3)),
            D.Beta(t([2.0, 3.0]), t([1.5, 0.5])),
            D.Gamma(t([2.0, 3.0]), t(1.5)),
            D.Exponential(t([2.0])),
            D.Laplace(0.0, 2.0),
            D.StudentT(3.0, lib.zeros(2), 1.0),
            D.Dirichlet(t([[1.0, 2.0, 3.0]])),
            D.Bernoulli(logits=t([0.2, -1.0])),
            D.Poisson(t([2.0])),
            D.Binomial(10, probs=t([0.3, 0.6])),
            D.MultivariateNormal(lib.zeros(2), scale_tril=t([[1.0, 0.0], [0.5, 2.0]])),
            D.LowRankMultivariateNormal(lib.zeros(3), lib.ones(3, 1), lib.ones(3)),
            D.Gumbel(0.0, 1.0),
            D.HalfNormal(t([1.0])),
            D.LogNormal(0.0, 1.0),
            D.Chi2(t(3.0)),
            D.VonMises(0.0, 2.0),
            D.Geometric(probs=t(0.3)),
            D.NegativeBinomial(3.0, probs=t(0.4)),
            D.OneHotCategorical(logits=lib.zeros(3)),
            D.Weibull(1.5, 2.0),
            D.Kumaraswamy(2.0, 3.0),
            D.Wishart(t(4.0), covariance_matrix=lib.eye(2)),
            D.Pareto(1.0, 2.0),
            D.FisherSnedecor(3.0, 5.0),
            D.InverseGamma(2.0, 3.0),
        ]
        out = []
        for d in dists:
            s = d.sample((4,))
            out.append([type(d).__name__, d.batch_shape, d.event_shape, tuple(s.shape), s.dtype])
            for attr in ("mean", "variance", "stddev", "mode", "entropy"):
                try:
                    value = getattr(d, attr)
                    out.append(value() if attr == "entropy" else value)
                except NotImplementedError:  # (Poisson's entropy, as torch)
                    out.append(attr + " not implemented")
            try:
                out.append(d.log_prob(d.mode))
            except ValueError:  # (Kumaraswamy's mode is NaN in torch 2.13: log1p(-b))
                out.append("mode outside the support")
            out.append([d.expand((5,) + d.batch_shape).batch_shape, d.has_rsample, d.has_enumerate_support])
        return out

    same_as_torch(program, 1e-5)


def test_kl_divergences():
    def program(lib):
        D = lib.distributions
        f64 = lib.float64

        def t(*a):
            return lib.tensor(a, dtype=f64)

        tril = lib.tensor([[1.0, 0.0], [0.3, 0.8]], dtype=f64)
        pairs = [
            (
                D.MultivariateNormal(t(0.0, 1.0), scale_tril=tril),
                D.MultivariateNormal(t(1.0, 0.0), lib.eye(2, dtype=f64) * 2),
            ),
            (D.Categorical(logits=t(0.1, 0.5, -1.0)), D.Categorical(probs=t(0.2, 0.3, 0.5))),
            (D.Bernoulli(t(0.3)), D.Bernoulli(logits=t(0.2))),
            (D.Beta(t(2.0), t(3.0)), D.Beta(t(1.5), t(1.0))),
            (D.Gamma(t(2.0), t(3.0)), D.Gamma(t(1.5), t(1.0))),
            (D.Dirichlet(t(1.0, 2.0, 3.0)), D.Dirichlet(t(2.0, 2.0, 2.0))),
            (D.Uniform(t(-1.0), t(1.0)), D.Normal(t(0.0), t(1.0))),
            (D.Exponential(t(2.0)), D.Gamma(t(1.5), t(1.0))),
            (
                D.LowRankMultivariateNormal(t(0.0, 0.0), lib.ones(2, 1, dtype=f64), t(1.0, 1.0)),
                D.MultivariateNormal(t(0.0, 0.0), lib.eye(2, dtype=f64)),
            ),
            (
                D.Independent(D.Normal(lib.zeros(2, 3, dtype=f64), 1.0), 2),
                D.Independent(D.Normal(lib.ones(2, 3, dtype=f64), 2.0), 2),
            ),
            (D.Normal(t(0.0), t(1.0)), D.Gumbel(t(0.0), t(1.0))),
            (D.Poisson(t(2.0)), D.Poisson(t(3.0))),
        ]
        out = [D.kl_divergence(p, q) for p, q in pairs]

        class MyNormal(D.Normal):
            pass

        @D.register_kl(MyNormal, MyNormal)
        def _kl(p, q):
            return lib.zeros(())

        return out + [
            D.kl_divergence(MyNormal(0.0, 1.0), MyNormal(1.0, 1.0)),
            D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)),
        ]

    same_as_torch(program, 1e-10)


def test_custom_distribution_and_transform_subclasses():
    """A user's Distribution subclass (arg_constraints, broadcast_all, _extended_shape, _validate_sample) and a
    user's Transform subclass inside a TransformedDistribution; validation errors as torch's."""

    def program(lib):
        D, F = lib.distributions, lib.nn.functional
        C = D.constraints

        class Logistic(D.Distribution):
            arg_constraints = {"loc": C.real, "scale": C.positive}
            support = C.real
            has_rsample = True

            def __init__(self, loc, scale, validate_args=None):
                self.loc, self.scale = D.utils.broadcast_all(loc, scale)
                super().__init__(self.loc.shape, validate_args=validate_args)

            def rsample(self, sample_shape=()):
                u = lib.full(self._extended_shape(sample_shape), 0.3, dtype=self.loc.dtype)
                return self.loc + self.scale * (lib.log(u) - lib.log1p(-u))

            def log_prob(self, value):
                if self._validate_args:
                    self._validate_sample(value)
                z = (value - self.loc) / self.scale
                return -z - 2 * F.softplus(-z) - lib.log(self.scale)

        class Cube(D.transforms.Transform):
            domain = C.real
            codomain = C.real
            bijective = True

            def __eq__(self, other):
                return isinstance(other, Cube)

            def _call(self, x):
                return x**3

            def _inverse(self, y):
                return lib.sign(y) * y.abs() ** (1 / 3)

            def log_abs_det_jacobian(self, x, y):
                return lib.log(3 * x**2)

        d = Logistic(lib.tensor([0.0, 1.0]), 2.0)
        out = [
            d.batch_shape,
            tuple(d.rsample((3,)).shape),
            d.log_prob(lib.tensor([0.5, 0.5])),
            d.sample().requires_grad,
        ]
        with pytest.raises(ValueError) as info:
            Logistic(lib.tensor([0.0]), lib.tensor([-1.0]), validate_args=True)
        out.append(str(info.value).replace("torch.", ""))
        td = D.TransformedDistribution(D.Normal(lib.zeros(2), 1.0), [Cube(), D.transforms.AffineTransform(1.0, 2.0)])
        y = lib.tensor([0.5, 3.0])
        return out + [td.log_prob(y), tuple(td.rsample((4,)).shape), Cube().inv(y), Cube().inv.inv(y)]

    same_as_torch(program, 1e-6)


def test_gumbel_softmax_hard_one_hot_and_reinforce():
    """gumbel_softmax(hard=True) is one-hot with a soft gradient (properties, not values: the noise is never
    torch's); the score-function estimator of a Categorical policy."""

    def program(lib):
        F, D = lib.nn.functional, lib.distributions
        logits = lib.tensor(MDN_PI[:5], requires_grad=True)
        y = F.gumbel_softmax(logits, tau=0.5, hard=True)
        (y * lib.arange(3.0)).sum().backward()
        soft = F.gumbel_softmax(logits, tau=0.5, dim=0)
        out = [tuple(y.shape), bool((y.sum(-1) == 1).all()), bool(((y == 0) | (y == 1)).all())]
        out += [bool(lib.allclose(soft.sum(0), lib.ones(3))), bool((logits.grad != 0).any())]
        policy = lib.tensor([[0.2, -0.3, 1.0], [0.0, 0.5, -1.0]], requires_grad=True)
        d = D.Categorical(logits=policy)
        loss = -(d.log_prob(lib.tensor([2, 0])) * lib.tensor([1.0, -0.5])).mean() - 0.01 * d.entropy().mean()
        loss.backward()
        return out + [loss, policy.grad]

    same_as_torch(program, 1e-6)


def test_generator_patterns():
    """Generators: manual_seed, generator= on the samplers, get_state/set_state replay, fork_rng; shapes, dtypes
    and determinism (the streams themselves are never torch's)."""

    def program(lib):
        g = lib.Generator().manual_seed(42)
        g2 = lib.Generator()
        g2.manual_seed(42)
        out = [bool(lib.equal(lib.randn(3, generator=g), lib.randn(3, generator=g2)))]
        out += [
            lib.rand(2, 2, generator=g).shape,
            lib.randint(0, 5, (4,), generator=g).dtype,
            lib.randperm(6, generator=g).sort().values,
            lib.multinomial(lib.tensor([0.2, 0.8]), 3, True, generator=g).shape,
            lib.bernoulli(lib.full((3,), 0.5), generator=g).shape,
            lib.empty(3).normal_(0, 1, generator=g).shape,
            lib.normal(0.0, 1.0, (2, 3), generator=g).shape,
            lib.rand(2, generator=g, dtype=lib.float64).dtype,
            lib.poisson(lib.ones(3), generator=g).shape,
            g.initial_seed(),
        ]
        state = g.get_state()
        a = lib.rand(3, generator=g)
        g.set_state(state)
        out.append(bool(lib.equal(a, lib.rand(3, generator=g))))
        lib.manual_seed(3)
        lib.rand(2)
        with lib.random.fork_rng():
            lib.manual_seed(5)
            lib.rand(10)
        after = lib.rand(2)
        lib.manual_seed(3)
        lib.rand(2)
        return out + [bool(lib.equal(after, lib.rand(2)))]

    same_as_torch(program, 0)


IMG = RNG.standard_normal((4, 2, 8, 8)).astype(np.float32)
IMG_NOISE = RNG.standard_normal((4, 2, 8, 8)).astype(np.float32)


def make_denoiser(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.temb = nn.Sequential(nn.Linear(8, 16), nn.SiLU(), nn.Linear(16, 8))
            self.conv = nn.Conv2d(2, 8, 3, padding=1)
            self.norm = nn.GroupNorm(4, 8)
            self.down = nn.Conv2d(8, 8, 4, 2, 1)
            self.up = nn.ConvTranspose2d(8, 8, 4, 2, 1)
            self.out = nn.Conv2d(16, 2, 1)

        def forward(self, x, t):
            half = 4
            freqs = lib.exp(lib.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
            emb = t.float()[:, None] * freqs[None, :]
            h = (
                nn.functional.silu(self.norm(self.conv(x)))
                + self.temb(lib.cat((emb.sin(), emb.cos()), dim=-1))[..., None, None]
            )
            d = self.down(h)
            return self.out(lib.cat([self.up(d), nn.functional.interpolate(d, scale_factor=2, mode="nearest")], dim=1))

    return Net()


def test_diffusion_training_and_sampling():
    """DDPM: a linspace beta schedule, cumprod, F.pad(value=1.0), the gather-based extract(), MSE on the noise,
    clip_grad_norm_, an EMA through swa_utils.AveragedModel(get_ema_multi_avg_fn) and lerp_, ancestral sampling."""
    state = _state(make_denoiser(torch))

    def program(lib):
        F = lib.nn.functional
        steps = 10
        betas = lib.linspace(1e-4, 0.02, steps)
        alphas = 1.0 - betas
        ac = lib.cumprod(alphas, dim=0)
        ac_prev = F.pad(ac[:-1], (1, 0), value=1.0)
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)

        def extract(a, t, shape):
            return a.gather(-1, t).reshape(t.shape[0], *((1,) * (len(shape) - 1)))

        net = _load(lib, make_denoiser(lib), state)
        ema = lib.optim.swa_utils.AveragedModel(net, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.9))
        shadow = {k: v.clone() for k, v in net.state_dict().items()}
        opt = lib.optim.AdamW(net.parameters(), lr=1e-3)
        x0, noise, t = lib.tensor(IMG), lib.tensor(IMG_NOISE), lib.tensor([3, 0, 9, 5])
        losses = []
        for _ in range(2):
            xt = extract(ac.sqrt(), t, x0.shape) * x0 + extract((1 - ac).sqrt(), t, x0.shape) * noise
            loss = F.mse_loss(net(xt, t), noise)
            opt.zero_grad()
            loss.backward()
            losses.append(lib.nn.utils.clip_grad_norm_(net.parameters(), 1.0))
            opt.step()
            ema.update_parameters(net)
            with lib.no_grad():
                for k, v in net.state_dict().items():
                    shadow[k].lerp_(v, 0.1)
            losses.append(loss)
        with lib.no_grad():
            x = lib.tensor(IMG_NOISE)
            for i in reversed(range(steps)):
                tt = lib.full((4,), i, dtype=lib.long)
                eps = ema(x, tt)
                scale = extract(betas, tt, x.shape) / extract((1 - ac).sqrt(), tt, x.shape)
                x = extract(lib.sqrt(1.0 / alphas), tt, x.shape) * (x - scale * eps)
                if i > 0:
                    x = x + extract(post_var, tt, x.shape).sqrt() * lib.tensor(IMG_NOISE)
        return [losses, x.clamp(-1, 1), ema.module.state_dict(), shadow, ema.n_averaged, post_var, ac_prev]

    same_as_torch(program, 2e-4)


CODES = RNG.standard_normal((6, 4, 3)).astype(np.float32)
CODEBOOK = RNG.standard_normal((5, 3)).astype(np.float32)


def test_vector_quantiser_straight_through():
    """VQ-VAE: nearest codes by expanded distances and cdist, one_hot / scatter_ encodings, the straight-through
    z + (zq - z).detach(), codebook and commitment losses, perplexity, bincount / index_add_ counts."""

    def program(lib):
        F = lib.nn.functional
        z = lib.tensor(CODES, requires_grad=True)
        emb = lib.nn.Embedding(5, 3)
        emb.weight.data.copy_(lib.tensor(CODEBOOK))
        flat = z.reshape(-1, 3)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ emb.weight.t() + emb.weight.pow(2).sum(1)
        idx = lib.argmin(dist, dim=1)
        enc = F.one_hot(idx, 5).float()
        enc2 = lib.zeros(idx.shape[0], 5).scatter_(1, idx.unsqueeze(1), 1)
        zq = (enc @ emb.weight).view(z.shape)
        loss = F.mse_loss(zq, z.detach()) + 0.25 * F.mse_loss(zq.detach(), z)
        loss = loss + (z + (zq - z).detach()).pow(2).sum()
        loss.backward()
        avg = enc.mean(0)
        return [
            idx,
            lib.cdist(flat, emb.weight).argmin(1),
            bool(lib.equal(enc, enc2)),
            emb(idx).view_as(z),
            loss,
            z.grad,
            emb.weight.grad,
            lib.exp(-lib.sum(avg * lib.log(avg + 1e-10))),
            lib.bincount(idx, minlength=5),
            lib.zeros(5).index_add_(0, idx, lib.ones(idx.shape[0])),
            lib.unique(idx, return_counts=True),
        ]

    same_as_torch(program, 1e-5)


# ====================================================================== regressions for the gaps found


# ---------------------------------------------------------------- trapezoid / cumulative_trapezoid


TRAP_Y = np.random.default_rng(0).standard_normal((6, 4))
TRAP_T = np.sort(np.random.default_rng(1).random(6))


@pytest.mark.parametrize("name", ["trapezoid", "cumulative_trapezoid"])
def test_trapezoid_sample_points_along_dim(name):
    """A 1-D ``x`` holds the sample points along ``dim`` (not only the last dim), and the gradient flows."""

    def program(lib):
        y = lib.tensor(TRAP_Y, requires_grad=True)
        t = lib.tensor(TRAP_T)
        f = getattr(lib, name)
        outs = [f(y, t, dim=0), f(y, t[:4]), f(y, t[:4], dim=-1), f(y, t[:, None] * lib.ones(4, dtype=t.dtype), dim=0)]
        outs.append(f(y, lib.tensor([[0.0], [2.0]], dtype=t.dtype).expand(2, 4).contiguous()[:, :1], dim=0)[..., :1])
        (g,) = lib.autograd.grad(sum(o.sum() for o in outs), y)
        return outs + [g]

    same_as_torch(program, 1e-12)


def test_trapezoid_dx_and_edge_cases_as_torch():
    def program(lib):
        y = lib.tensor([[1.0, 2.0, 4.0], [0.0, 1.0, 3.0]])
        yi = lib.arange(6).reshape(2, 3)
        return [
            lib.trapezoid(y, dx=2),
            lib.trapezoid(yi),
            lib.trapezoid(yi, dx=0.5),
            lib.cumulative_trapezoid(yi),
            lib.cumulative_trapezoid(y, dx=0.5, dim=0),
            lib.trapezoid(lib.ones(2, 0), dx=3),
            lib.trapezoid(lib.ones(2, 0), lib.arange(0.0)),
            lib.cumulative_trapezoid(lib.ones(2, 0)),
            lib.cumulative_trapezoid(lib.ones(2, 0), lib.arange(0.0)),
            lib.trapz(y, lib.tensor([0.0, 1.0, 3.0])),
        ]

    same_as_torch(program, 1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.trapezoid(lib.ones(3, 4), lib.arange(3.0)),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3, 4), lib.arange(3.0)),
        lambda lib: lib.trapezoid(lib.ones(3, 4), dx=True),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3, 4), dx=True),
        lambda lib: lib.trapezoid(lib.ones(3, 4).bool()),
        lambda lib: lib.cumulative_trapezoid(lib.ones(3), lib.tensor([True, False, True])),
        lambda lib: lib.trapezoid(lib.ones(3), lib.arange(3.0), dx=2),
        lambda lib: lib.trapezoid(lib.ones(3), 2.0),
    ],
)
def test_trapezoid_errors_as_torch(call):
    raises_as_torch(call)


# ---------------------------------------------------------------- expand: torch's errors (Distribution.expand too)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.zeros(2).expand(3, 3),
        lambda lib: lib.zeros(2).expand(-1, 3),
        lambda lib: lib.zeros(2).expand(-1, 2),
        lambda lib: lib.zeros(3, 2).expand_as(lib.zeros(4, 4)),
        lambda lib: lib.zeros(0).expand(2, 3),
        lambda lib: lib.distributions.Normal(lib.zeros(2), 1.0).expand((3, 3)),
        lambda lib: lib.distributions.Categorical(logits=lib.zeros(2, 3)).expand((4,)),
    ],
)
def test_expand_errors_as_torch(call):
    raises_as_torch(call)


def test_expand_still_broadcasts():
    same_as_torch(
        lambda lib: [
            lib.zeros(2, 1).expand(-1, 5).shape,
            lib.ones(1).expand(2, -1),
            lib.zeros(0).expand(2, 0).shape,
            lib.distributions.Normal(lib.zeros(1, 2), 1.0).expand((3, 2)).sample().shape,
        ],
        0,
    )


# ---------------------------------------------------------------- distributions.utils: the tril <-> vector helpers


@pytest.mark.parametrize("diag", [0, -1, 1, -2])
def test_tril_matrix_vec_roundtrip_as_torch(diag):
    def program(lib):
        u = lib.distributions.utils
        m = lib.arange(18.0, dtype=lib.float64).reshape(2, 3, 3).requires_grad_()
        v = u.tril_matrix_to_vec(m, diag)
        back = u.vec_to_tril_matrix(v, diag)
        (g,) = lib.autograd.grad((back * lib.arange(9.0, dtype=lib.float64).reshape(3, 3)).sum(), m)
        return [v, back, g]

    same_as_torch(program, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.distributions.utils.vec_to_tril_matrix(lib.ones(2, 5)),
        lambda lib: lib.distributions.utils.tril_matrix_to_vec(lib.ones(3, 3), 3),
        lambda lib: lib.distributions.utils.tril_matrix_to_vec(lib.ones(3, 3), -4),
    ],
)
def test_tril_matrix_vec_errors_as_torch(call):
    raises_as_torch(call)


def test_distribution_utils_private_helpers():
    """``_sum_rightmost`` and ``_standard_normal``, which distributions written outside torch import."""
    u = bp.distributions.utils
    x = bp.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(u._sum_rightmost(x, 2).numpy(), x.numpy().reshape(2, -1).sum(1))
    assert u._sum_rightmost(x, 0) is x
    z = u._standard_normal((2, 3), dtype=bp.float64, device="cpu")
    assert (tuple(z.shape), z.dtype) == ((2, 3), bp.float64)


# ---------------------------------------------------------------- special: log_ndtr, ndtri and entr in their tails


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_ndtr_lower_tail_as_torch(dtype):
    """log Phi(x) = log(ndtr(x)) underflowed to -inf below about -38 (float64; gradient NaN); torch's is finite."""

    def program(lib):
        x = lib.tensor([-100.0, -40.0, -5.0, 0.0, 3.0, 40.0], dtype=getattr(lib, dtype), requires_grad=True)
        y = lib.special.log_ndtr(x)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), x)
        return [y, g, gg]

    same_as_torch(program, 2e-6 if dtype == "float32" else 1e-12)
    assert bp.special.log_ndtr(bp.tensor([-100.0], dtype=bp.float64)).item() == pytest.approx(-5005.524208, rel=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ndtri_small_probabilities_as_torch(dtype):
    """sqrt(2) erfinv(2p - 1) gave -inf for p below the dtype's eps (2p - 1 rounds to -1); torch's is finite."""

    def program(lib):
        p = lib.tensor([0.0, 1e-30, 1e-10, 0.3, 1.0, -0.5, 1.5], dtype=getattr(lib, dtype), requires_grad=True)
        q = lib.special.ndtri(p)
        (g,) = lib.autograd.grad(q.sum(), p, create_graph=True)
        (gg,) = lib.autograd.grad(g[1:4].sum(), p)
        return [q, g[1:4], gg[1:4]]

    same_as_torch(program, 2e-5 if dtype == "float32" else 1e-12)  # (float32: exp(q^2 / 2) amplifies q's rounding)
    exact = -11.4640246884436157  # (mpmath, 80 digits)
    assert bp.special.ndtri(bp.tensor([1e-30], dtype=bp.float64)).item() == pytest.approx(exact, rel=1e-13)


def test_entr_gradient_at_zero_as_torch():
    """d(-x log x)/dx = -(1 + log x): +inf at 0 (xlogy's rule gave 0/0 = NaN), NaN below 0; second derivative -1/x."""

    def program(lib):
        x = lib.tensor([-1.0, 0.0, 1e-30, 0.5, 2.0], dtype=lib.float64, requires_grad=True)
        y = lib.special.entr(x)
        (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad(g[1:].sum(), x)
        return [y, g, gg]

    same_as_torch(program, 1e-12)


# ---------------------------------------------------------------- sinc's derivative near 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sinc_gradient_near_zero(dtype):
    """The closed form (pi x cos(pi x) - sin(pi x)) / (pi x^2) is 0/0 = NaN once pi x^2 underflows (x = 1e-30 in
    float32) and cancels badly for small x; near 0 the derivative is its series -pi^2 x / 3 + pi^4 x^3 / 30 - ..."""
    xs = np.array([1e-30, 1e-5, 1e-3, 0.02, 0.1, 0.3, 2.5, -0.05])
    x = bp.tensor(xs, dtype=getattr(bp, dtype), requires_grad=True)
    (g,) = bp.autograd.grad(bp.sinc(x).sum(), x, create_graph=True)
    (gg,) = bp.autograd.grad(g.sum(), x)
    px = np.pi * xs  # the reference: four terms of the series below |pi x| = 0.1, the closed form in float64 above
    series = -(np.pi**2) * xs / 3 * (1 - px**2 / 10 + px**4 / 280 - px**6 / 15120)
    exact = np.where(np.abs(px) < 0.1, series, (px * np.cos(px) - np.sin(px)) / (px * xs))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(g.detach().numpy(), exact, rtol=rtol, atol=0)
    assert np.isfinite(gg.numpy()).all()
    np.testing.assert_allclose(gg.numpy()[:3], -(np.pi**2) / 3, rtol=1e-5)
    # torch's values where its closed form is accurate
    tx = torch.tensor(xs[4:], dtype=getattr(torch, dtype), requires_grad=True)
    (tg,) = torch.autograd.grad(torch.sinc(tx).sum(), tx)
    np.testing.assert_allclose(g.detach().numpy()[4:], tg.numpy(), rtol=10 * rtol)
