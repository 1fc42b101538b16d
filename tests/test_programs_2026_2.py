"""Scientific computing and functional autodiff as torch users write it in 2025-26, run once with torch and once
with ``backprop`` standing in for ``torch`` (the same code, the library passed in), from the same weights (made
with NumPy and loaded through ``load_state_dict``): values, dtypes, shapes, printed reprs and the exceptions of
common slips agree.

Covered: physics-informed networks (Burgers and heat residuals through ``autograd.grad(create_graph=True)`` with
``grad_outputs=torch.ones_like``), a neural ODE with a hand-written RK4, Hamiltonian networks, Lotka-Volterra
parameter fitting; ``torch.func`` (``vmap`` with ``in_dims``/``out_dims``/nesting/``randomness``, ``grad``,
``grad_and_value`` with ``has_aux``, ``jacrev``/``jacfwd``/``hessian``, ``jvp``/``vjp``/``linearize``, the
per-sample-gradients tutorial, ``stack_module_state`` ensembles), ``autograd.functional.jacobian(vectorize=True)``,
``is_grads_batched``; Gaussian processes (``cdist`` RBF kernels, ``cholesky``/``cholesky_solve``/
``solve_triangular``/``triangular_solve``, Adam and LBFGS on the log marginal likelihood), Bayesian linear
regression, a Kalman filter, RealNVP coupling flows, ``TransformedDistribution``, variational inference with
``kl_divergence``, HMC leapfrog, ``MixtureSameFamily``; ``torch.linalg`` (eigh, svd, qr, lstsq, pinv, matrix_exp,
det/slogdet, norms, cond), complex tensors and FFT (``rfft``/``irfft``, ``fftshift``, an FNO spectral layer),
``stft``/``istft``, ``trapezoid``/``cumulative_trapezoid``, ``searchsorted``/``bucketize``/``histc``,
``quantile``/``nanquantile``, ``polar``, ``torch.special`` in likelihoods, ``set_default_dtype(torch.float64)``
and ``finfo``.

Nothing random is compared (README: random streams are never torch's).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import backprop

real_torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning",  # torch's forward AD (jacfwd, hessian), once
    "ignore:torch.triangular_solve is deprecated:UserWarning",  # torch's, once per process
    "ignore:Attempted to insert a get_attr Node:UserWarning",  # torch's linearize (an fx trace)
)


def _np(x):
    return x.detach().cpu().resolve_conj().numpy() if hasattr(x, "detach") else x


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
    elif isinstance(theirs, _Raised):
        # torch's class is ours or one of its bases (backprop's ShapeError is a RuntimeError and a ValueError)
        assert isinstance(ours, _Raised) and theirs.names[0] in ours.names, f"{path}: {ours!r} != {theirs!r}"
        # (README: bp.Size prints as Size([2, 3]), also inside messages; the in-place hint is torch's text)
        want = theirs.message.replace("torch.Size(", "Size(")
        assert ours.message == want, f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, real_torch.dtype):
        assert str(ours).replace("torch.", "") == str(theirs).replace("torch.", ""), f"{path}: {ours} != {theirs}"
    elif isinstance(theirs, str):  # (README: reprs print the dtype by NumPy's name, dtype=float64)
        assert ours == theirs.replace("dtype=torch.", "dtype="), f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, (bool, type(None))):
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, (int, float, complex)) and not isinstance(theirs, bool):
        assert type(ours) is type(theirs), (path, type(ours), type(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    else:
        if hasattr(theirs, "dtype") and hasattr(ours, "dtype"):
            assert str(ours.dtype).replace("torch.", "") == str(theirs.dtype).replace("torch.", ""), (
                path,
                ours.dtype,
                theirs.dtype,
            )
        a, b = np.asarray(_np(ours)), np.asarray(_np(theirs))
        assert a.shape == b.shape, (path, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=path)


def _both(program, rtol: float = 1e-5) -> None:
    """``program(L)`` with L = torch and L = backprop: the same results."""
    real_torch.manual_seed(0)
    theirs = program(real_torch)
    backprop.manual_seed(0)
    _same(program(backprop), theirs, rtol)


class _Raised:
    """An exception ``fn()`` raised: its class and message (compared with torch's by ``_same``)."""

    def __init__(self, exc: BaseException) -> None:
        self.names = [c.__name__ for c in type(exc).__mro__]
        self.message = str(exc)

    def __repr__(self) -> str:
        return f"{self.names[0]}({self.message!r})"


def _error(fn) -> _Raised:
    """The exception ``fn()`` raises."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any class is compared with torch's
        return _Raised(e)
    raise AssertionError("no exception")


def _load(L, module, seed: int, scale: float = 0.5, dtype=np.float64):
    """The module's floating parameters set from a NumPy generator (the same for both libraries)."""
    rs = np.random.default_rng(seed)
    sd = {}
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            sd[k] = L.tensor((rs.standard_normal(tuple(v.shape)) * scale).astype(dtype))
        else:
            sd[k] = v
    module.load_state_dict(sd)
    return module


def _mlp(L, sizes, act="Tanh", dtype=None):
    """A plain MLP as users write it (Linear + activation), in ``dtype``."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(L.nn.Linear(a, b, dtype=dtype or L.float64))
        if i < len(sizes) - 2:
            layers.append(getattr(L.nn, act)())
    return L.nn.Sequential(*layers)


def _sub(L, name: str):
    return importlib.import_module(f"{L.__name__}.{name}")


RNG = np.random.default_rng(2026)


# ------------------------------------------------------------------ physics-informed networks and ODEs
def test_pinn_burgers_residual_with_adam() -> None:
    """u_t + u u_x - nu u_xx through autograd.grad(grad_outputs=ones_like, create_graph=True), with boundary and
    initial losses, three Adam steps."""

    def program(L):
        net = _load(L, _mlp(L, [2, 16, 16, 1]), 1)
        opt = L.optim.Adam(net.parameters(), lr=1e-3)
        tx = L.tensor(RNG_BURGERS, requires_grad=True)
        x0 = L.linspace(-1, 1, 9, dtype=L.float64).unsqueeze(1)
        ic = L.cat([L.zeros_like(x0), x0], dim=1)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            u = net(tx)
            du = L.autograd.grad(u, tx, grad_outputs=L.ones_like(u), create_graph=True)[0]
            u_t, u_x = du[:, 0:1], du[:, 1:2]
            u_xx = L.autograd.grad(u_x, tx, grad_outputs=L.ones_like(u_x), create_graph=True)[0][:, 1:2]
            f = u_t + u * u_x - (0.01 / math.pi) * u_xx
            loss = f.pow(2).mean() + L.nn.functional.mse_loss(net(ic), -L.sin(math.pi * x0))
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return [L.stack(losses), f.detach(), [p.grad for p in net.parameters()], net[0].weight]

    _both(program, 1e-9)


RNG_BURGERS = np.random.default_rng(1).uniform(-1, 1, (20, 2))


def test_pinn_heat_equation_with_torch_func() -> None:
    """The heat equation residual u_t - u_xx with torch.func: vmap(jacrev) for u_t/u_x and vmap(hessian) for u_xx
    over functional_call's parameters; the loss differentiated with func.grad."""

    def program(L):
        net = _load(L, _mlp(L, [2, 8, 1], act="SiLU"), 2)
        fn = L.func
        params = {k: v.detach() for k, v in net.named_parameters()}
        pts = L.tensor(RNG_BURGERS[:6])

        def u(p, z):
            return fn.functional_call(net, p, (z,)).squeeze(-1)

        def residual(p):
            g = fn.vmap(fn.jacrev(u, argnums=1), in_dims=(None, 0))(p, pts)
            h = fn.vmap(fn.hessian(u, argnums=1), in_dims=(None, 0))(p, pts)
            return g[:, 0] - h[:, 1, 1]

        r = residual(params)
        grads = fn.grad(lambda p: residual(p).pow(2).mean())(params)
        return [r, grads, fn.vmap(fn.jacfwd(u, argnums=1), in_dims=(None, 0))(params, pts)]

    _both(program, 1e-9)


def _rk4(f, y, t0: float, t1: float, steps: int):
    """The classic fourth-order Runge-Kutta integrator, the way users hand-write it for neural ODEs."""
    h = (t1 - t0) / steps
    t = t0
    ys = [y]
    for _ in range(steps):
        k1 = f(t, y)
        k2 = f(t + h / 2, y + h / 2 * k1)
        k3 = f(t + h / 2, y + h / 2 * k2)
        k4 = f(t + h, y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t += h
        ys.append(y)
    return ys


def test_neural_ode_with_hand_written_rk4() -> None:
    """An ODEFunc module (time concatenated to the state), integrated with RK4, trained by MSE on the
    trajectory with torch.stack; gradients by backprop through the solver."""

    def program(L):
        class ODEFunc(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = L.nn.Sequential(L.nn.Linear(3, 16), L.nn.Tanh(), L.nn.Linear(16, 2))

            def forward(self, t, y):
                tt = L.full_like(y[..., :1], t)
                return self.net(L.cat([y, tt], dim=-1))

        f = _load(L, ODEFunc(), 3, dtype=np.float32)
        y0 = L.tensor([[2.0, 0.0], [1.0, 1.0]])
        opt = L.optim.RMSprop(f.parameters(), lr=1e-2)
        target = L.tensor(np.stack([np.cos(np.linspace(0, 1, 11)), np.sin(np.linspace(0, 1, 11))], -1), dtype=L.float32)
        out = []
        for _ in range(2):
            opt.zero_grad()
            traj = L.stack(_rk4(f, y0, 0.0, 1.0, 10))  # (T, B, 2)
            loss = (traj - target.unsqueeze(1)).abs().mean()
            loss.backward()
            opt.step()
            out.append(loss.detach())
        return [traj.shape, traj.detach(), out, f.net[0].weight.grad]

    _both(program, 1e-4)


def test_hamiltonian_neural_network() -> None:
    """HNN: H(q, p) from an MLP, the symplectic gradient (dH/dp, -dH/dq) from autograd.grad(H.sum(),
    create_graph=True) and torch.chunk/torch.cat, an MSE on time derivatives, then an Euler rollout under
    torch.no_grad with enable_grad around the derivative, as users write it."""

    def program(L):
        hnn = _load(L, _mlp(L, [2, 32, 1], act="Softplus"), 4)
        x = L.tensor(HNN_X, requires_grad=True)
        dxdt_true = L.tensor(HNN_DX)

        def time_derivative(z):
            H = hnn(z)
            dH = L.autograd.grad(H.sum(), z, create_graph=True)[0]
            dHdq, dHdp = dH.chunk(2, dim=-1)
            return L.cat([dHdp, -dHdq], dim=-1)

        pred = time_derivative(x)
        loss = L.nn.functional.mse_loss(pred, dxdt_true)
        loss.backward()
        traj = [x.detach()[:2]]
        with L.no_grad():
            for _ in range(3):
                with L.enable_grad():
                    z = traj[-1].clone().requires_grad_(True)
                    d = time_derivative(z)
                traj.append(traj[-1] + 0.1 * d.detach())
        return [pred.detach(), loss, hnn[0].weight.grad, L.stack(traj), d.requires_grad, z.grad is None]

    _both(program, 1e-9)


HNN_X = RNG.standard_normal((16, 2))
HNN_DX = np.stack([HNN_X[:, 1], -HNN_X[:, 0]], -1)


def test_lotka_volterra_parameter_fit() -> None:
    """Fitting Lotka-Volterra rates (parameters made with nn.Parameter, kept positive through softplus) to an
    observed trajectory with RK4 and Adam; clamp_ of the state, clip_grad_norm_."""

    def program(L):
        log_rates = L.nn.Parameter(L.tensor([0.1, -0.3, 0.2, -0.5], dtype=L.float64))
        obs = L.tensor(LV_OBS)
        opt = L.optim.Adam([log_rates], lr=0.05)

        def f(t, y):
            a, b, c, d = L.nn.functional.softplus(log_rates)
            x, v = y.unbind(-1)
            return L.stack([a * x - b * x * v, d * x * v - c * v], dim=-1)

        hist = []
        for _ in range(3):
            opt.zero_grad()
            ys = L.stack(_rk4(f, L.tensor([1.0, 0.5], dtype=L.float64), 0.0, 2.0, 20)[::5])
            loss = (ys - obs).pow(2).sum()
            loss.backward()
            norm = L.nn.utils.clip_grad_norm_([log_rates], 1.0)
            opt.step()
            hist.append((loss.item(), norm))
        return [hist, log_rates.detach(), ys.clamp_(min=0).detach()]

    _both(program, 1e-9)


LV_OBS = np.abs(np.random.default_rng(5).standard_normal((5, 2))) + 0.5


# ------------------------------------------------------------------ torch.func
def test_vmap_in_dims_out_dims_and_nesting() -> None:
    """vmap with in_dims tuples (None for broadcast arguments), out_dims, nested vmap for a pairwise kernel
    matrix, pytrees (dicts and tuples) in and out, and keyword arguments (never mapped)."""

    def program(L):
        fn = L.func
        x = L.tensor(RNG_V[0])
        y = L.tensor(RNG_V[1])

        def rbf(a, b, ls=1.0):
            return L.exp(-((a - b) ** 2).sum() / (2 * ls**2))

        K = fn.vmap(fn.vmap(rbf, in_dims=(None, 0)), in_dims=(0, None))(x, y)
        K2 = fn.vmap(fn.vmap(rbf, in_dims=(None, 0)), in_dims=(0, None))(x, y, ls=0.5)
        scaled = fn.vmap(lambda a, s: a * s, in_dims=(1, None), out_dims=1)(x, L.tensor(2.0, dtype=L.float64))
        d = fn.vmap(lambda t: {"n": t.norm(), "pair": (t.sum(), t[:2])})(x)
        moved = fn.vmap(lambda a, b: a @ b, in_dims=(0, 1))(
            L.ones(4, 2, 3, dtype=L.float64), L.ones(3, 4, 5, dtype=L.float64)
        )
        tup = fn.vmap(lambda a: (a.max(), a.argmax()), out_dims=(0, 0))(x)
        return [K, K2, scaled, d, moved.shape, tup]

    _both(program, 1e-12)


RNG_V = (RNG.standard_normal((4, 3)), RNG.standard_normal((5, 3)))


def test_vmap_randomness_modes() -> None:
    """vmap's randomness= modes: 'error' raises torch's message on a random op, 'same' gives equal slices,
    'different' independent ones (shapes only: the streams are never torch's)."""

    def program(L):
        fn = L.func
        x = L.zeros(3, 4)
        err = _error(lambda: fn.vmap(lambda t: t + L.rand(4))(x))
        err2 = _error(lambda: fn.vmap(lambda t: L.nn.functional.dropout(t, 0.5))(x))
        same = fn.vmap(lambda t: t + L.rand(4), randomness="same")(x)
        diff = fn.vmap(lambda t: t + L.randn_like(t), randomness="different")(x)
        bad = _error(lambda: fn.vmap(lambda t: t, randomness="sometimes")(x))
        return [err, err2, bool((same[0] == same[1]).all()), bool((diff[0] == diff[1]).all()), diff.shape, bad]

    _both(program)


def test_grad_and_value_with_aux_and_argnums() -> None:
    """func.grad / grad_and_value with has_aux=True and argnums tuples, on a Gaussian negative log likelihood;
    the aux dict comes back untouched; jacrev with argnums=(0, 1) on a two-output function."""

    def program(L):
        fn = L.func
        x = L.tensor(RNG_V[0][:, 0])
        mu, log_sigma = L.tensor(0.3, dtype=L.float64), L.tensor(-0.2, dtype=L.float64)

        def nll(m, ls):
            z = (x - m) / ls.exp()
            val = 0.5 * (z**2).sum() + x.numel() * ls + 0.5 * x.numel() * math.log(2 * math.pi)
            return val, {"z": z.detach(), "n": L.tensor(x.numel())}

        (gm, gls), (val, aux) = fn.grad_and_value(nll, argnums=(0, 1), has_aux=True)(mu, log_sigma)
        g1, aux1 = fn.grad(nll, has_aux=True)(mu, log_sigma)
        J = fn.jacrev(lambda a, b: (a * b, a + b.sin()), argnums=(0, 1))(x, x.flip(0))
        ref = -L.distributions.Normal(mu, log_sigma.exp()).log_prob(x).sum()
        int_aux = _error(lambda: fn.grad(lambda a: (a.sum(), 3), has_aux=True)(x))
        return [gm, gls, val, aux, g1, aux1, J, ref, int_aux]

    _both(program, 1e-12)


def test_per_sample_gradients_tutorial() -> None:
    """torch's per-sample-gradients tutorial: a small CNN, functional_call + vmap(grad(compute_loss),
    in_dims=(None, None, 0, 0)), compared with the loop over samples."""

    def program(L):
        F = L.nn.functional

        class SimpleCNN(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = L.nn.Conv2d(1, 4, 3, 1)
                self.fc1 = L.nn.Linear(4 * 3 * 3, 5)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                return F.log_softmax(self.fc1(L.flatten(x, 1)), dim=1)

        model = _load(L, SimpleCNN(), 6, dtype=np.float32)
        data = L.tensor(PSG_X)
        targets = L.tensor(PSG_Y)
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def compute_loss(params, buffers, sample, target):
            batch = sample.unsqueeze(0)
            predictions = L.func.functional_call(model, (params, buffers), (batch,))
            return F.nll_loss(predictions, target.unsqueeze(0))

        ft = L.func.vmap(L.func.grad(compute_loss), in_dims=(None, None, 0, 0))(params, buffers, data, targets)
        loop = []
        for i in range(len(data)):
            model.zero_grad()
            F.nll_loss(model(data[i : i + 1]), targets[i : i + 1]).backward()
            loop.append(model.fc1.weight.grad.clone())
        return [ft, L.stack(loop), L.allclose(ft["fc1.weight"], L.stack(loop), atol=3e-3, rtol=1e-5)]

    _both(program, 1e-4)


PSG_X = np.random.default_rng(7).standard_normal((4, 1, 8, 8)).astype(np.float32)
PSG_Y = np.array([0, 3, 1, 4])


def test_jvp_vjp_linearize() -> None:
    """func.jvp (primals and tangents tuples, has_aux), func.vjp (the vjp_fn called twice), func.linearize
    (the jvp_fn reused), and their agreement with the Jacobian."""

    def program(L):
        fn = L.func
        x = L.tensor(RNG_V[0][0])
        t = L.tensor(RNG_V[1][0])

        def f(a):
            return L.stack([a.prod(), (a**2).sum(), a.sin().mean()])

        out, jv = fn.jvp(f, (x,), (t,))
        out2, jv2, aux = fn.jvp(lambda a: (f(a), a.norm()), (x,), (t,), has_aux=True)
        o, vjp_fn = fn.vjp(f, x)
        (vj,) = vjp_fn(L.ones(3, dtype=L.float64))
        (vj2,) = vjp_fn(L.tensor([1.0, 0.0, -1.0], dtype=L.float64))
        o3, jvp_fn = fn.linearize(f, x)
        J = fn.jacrev(f)(x)
        return [
            out,
            jv,
            out2,
            jv2,
            aux,
            o,
            vj,
            vj2,
            o3,
            jvp_fn(t),
            jvp_fn(2 * t),
            J @ t,
            J.T @ L.ones(3, dtype=L.float64),
        ]

    _both(program, 1e-12)


def test_autograd_functional_jacobian_strategies_and_batched_grads() -> None:
    """autograd.functional.jacobian with vectorize=True and strategy='forward-mode', with create_graph=True and a
    tuple of inputs; hessian(vectorize=True, outer_jacobian_strategy='forward-mode'); autograd.grad with
    is_grads_batched=True (rows of the identity give the Jacobian); allow_unused + materialize_grads."""

    def program(L):
        AF = L.autograd.functional
        x = L.tensor(RNG_V[0][1], requires_grad=True)
        w = L.tensor(RNG_V[1][:3])

        def f(a, b):
            return L.tanh(b @ a) * a.sum()

        J = AF.jacobian(f, (x, w), vectorize=True)
        Jf = AF.jacobian(lambda a: f(a, w), x, vectorize=True, strategy="forward-mode")
        Jc = AF.jacobian(lambda a: f(a, w), x, create_graph=True)
        Jc.sum().backward()
        H = AF.hessian(lambda a: f(a, w).sum(), x, vectorize=True, outer_jacobian_strategy="forward-mode")
        y = f(x, w)
        (Jb,) = L.autograd.grad(y, x, L.eye(3, dtype=L.float64), is_grads_batched=True, retain_graph=True)
        unused = L.tensor(1.0, dtype=L.float64, requires_grad=True)
        g_x, g_u = L.autograd.grad(y.sum(), (x, unused), allow_unused=True, materialize_grads=True)
        return [J, Jf, Jc.detach(), x.grad, H, Jb, g_x, g_u]

    _both(program, 1e-12)


def test_ensemble_with_stack_module_state() -> None:
    """torch's model-ensembling tutorial: stack_module_state over copies, a 'meta' base model, vmap over the
    stacked params with the same minibatch (in_dims=(0, 0, None)) and with different minibatches."""

    def program(L):
        models = [_load(L, _mlp(L, [4, 8, 3], act="ReLU", dtype=L.float32), s, dtype=np.float32) for s in range(3)]
        params, buffers = L.func.stack_module_state(models)
        import copy

        base = copy.deepcopy(models[0]).to("meta")

        def fmodel(p, b, x):
            return L.func.functional_call(base, (p, b), (x,))

        x = L.tensor(ENS_X)
        same = L.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x[:5])
        diff = L.vmap(fmodel)(params, buffers, x.reshape(3, 2, 4))
        loop = L.stack([m(x[:5]) for m in models])
        return [same, diff, loop, sorted(params), params["0.weight"].shape, params["0.weight"].requires_grad]

    _both(program, 1e-5)


ENS_X = np.random.default_rng(8).standard_normal((6, 4)).astype(np.float32)


# ------------------------------------------------------------------ probabilistic models
GP_X = np.sort(np.random.default_rng(9).uniform(-3, 3, (12, 1)), axis=0)
GP_Y = np.sin(GP_X[:, 0]) + 0.1 * np.random.default_rng(10).standard_normal(12)
GP_XS = np.linspace(-3.5, 3.5, 7)[:, None]


def _rbf(L, a, b, log_ls, log_sf):
    """An RBF kernel with torch.cdist, as GP code writes it."""
    d = L.cdist(a / log_ls.exp(), b / log_ls.exp())
    return (2 * log_sf).exp() * L.exp(-0.5 * d.pow(2))


def test_gp_regression_with_adam_and_predictive() -> None:
    """Exact GP regression: the negative log marginal likelihood from cholesky, cholesky_solve and the
    diagonal's logs, minimized with Adam over log hyperparameters; the predictive mean and variance through
    linalg.solve_triangular (and the deprecated torch.triangular_solve)."""

    def program(L):
        x, y, xs = L.tensor(GP_X), L.tensor(GP_Y), L.tensor(GP_XS)
        hyp = L.nn.Parameter(L.tensor([0.0, 0.0, -1.0], dtype=L.float64))
        opt = L.optim.Adam([hyp], lr=0.1)
        n = x.shape[0]

        def nlml():
            K = _rbf(L, x, x, hyp[0], hyp[1]) + (2 * hyp[2]).exp() * L.eye(n, dtype=x.dtype)
            Lc = L.linalg.cholesky(K)
            alpha = L.cholesky_solve(y.unsqueeze(-1), Lc)
            return 0.5 * (y @ alpha.squeeze(-1)) + Lc.diagonal().log().sum() + 0.5 * n * math.log(2 * math.pi), Lc

        trace = []
        for _ in range(5):
            opt.zero_grad()
            loss, Lc = nlml()
            loss.backward()
            opt.step()
            trace.append(loss.item())
        with L.no_grad():
            loss, Lc = nlml()
            Ks = _rbf(L, x, xs, hyp[0], hyp[1])
            v = L.linalg.solve_triangular(Lc, Ks, upper=False)
            v2 = L.triangular_solve(Ks, Lc, upper=False).solution  # (torch warns once per process: not compared)
            alpha = L.cholesky_solve(y.unsqueeze(-1), Lc)
            mean = (Ks.T @ alpha).squeeze(-1)
            var = (2 * hyp[1]).exp() - v.pow(2).sum(0)
            lower = L.linalg.solve_triangular(Lc.T, v, upper=True, left=True)
        return [trace, hyp.detach(), mean, var, v2, lower, mean.shape]

    _both(program, 1e-9)


def test_gp_hyperparameters_with_lbfgs_strong_wolfe() -> None:
    """The same marginal likelihood (softplus-constrained hyperparameters, MultivariateNormal(scale_tril=...)
    log_prob) minimized by LBFGS with a closure and strong-Wolfe line search."""

    def program(L):
        x, y = L.tensor(GP_X), L.tensor(GP_Y)
        raw = L.zeros(3, dtype=L.float64, requires_grad=True)
        opt = L.optim.LBFGS([raw], lr=1, max_iter=20, line_search_fn="strong_wolfe", tolerance_grad=1e-9)
        F = L.nn.functional

        def closure():
            opt.zero_grad()
            ls, sf, sn = F.softplus(raw) + 1e-4
            d2 = (x - x.T).pow(2)
            K = sf * L.exp(-0.5 * d2 / ls**2) + sn * L.eye(12, dtype=L.float64)
            mvn = L.distributions.MultivariateNormal(L.zeros(12, dtype=L.float64), scale_tril=L.linalg.cholesky(K))
            loss = -mvn.log_prob(y)
            loss.backward()
            return loss

        first = opt.step(closure)
        second = opt.step(closure)
        st = opt.state[raw]
        return [first, second, raw.detach(), st["func_evals"], st["n_iter"]]

    _both(program, 1e-7)


def test_bayesian_linear_regression_posterior() -> None:
    """Conjugate Bayesian linear regression: posterior precision and covariance (cholesky_inverse), the mean by
    linalg.solve, MultivariateNormal with precision_matrix vs scale_tril, entropy, the predictive distribution,
    and the log evidence through slogdet."""

    def program(L):
        rs = np.random.default_rng(11)
        Phi = L.tensor(rs.standard_normal((20, 3)))
        t = L.tensor(rs.standard_normal(20))
        alpha, beta = 2.0, 25.0
        S_inv = alpha * L.eye(3, dtype=L.float64) + beta * Phi.T @ Phi
        S = L.cholesky_inverse(L.linalg.cholesky(S_inv))
        m = beta * L.linalg.solve(S_inv, Phi.T @ t)
        post = L.distributions.MultivariateNormal(m, precision_matrix=S_inv)
        post2 = L.distributions.MultivariateNormal(m, scale_tril=L.linalg.cholesky(S))
        x_new = L.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 1.0]], dtype=L.float64)
        pred_var = 1 / beta + (x_new @ S * x_new).sum(-1)
        pred = L.distributions.Normal(x_new @ m, pred_var.sqrt())
        sign, logdet = L.linalg.slogdet(S_inv)
        E = beta / 2 * (t - Phi @ m).pow(2).sum() + alpha / 2 * m @ m
        evidence = 1.5 * math.log(alpha) + 10 * math.log(beta) - E - 0.5 * logdet - 10 * math.log(2 * math.pi)
        return [
            S,
            m,
            post.covariance_matrix,
            post.log_prob(m),
            post2.log_prob(L.zeros(3, dtype=L.float64)),
            post.entropy(),
            post2.entropy(),
            pred.mean,
            pred.stddev,
            pred.cdf(L.zeros(2, dtype=L.float64)),
            sign,
            evidence,
        ]

    _both(program, 1e-9)


def test_kalman_filter_log_likelihood() -> None:
    """A constant-velocity Kalman filter: predict/update with linalg.solve for the gain, the innovation
    log-likelihood from MultivariateNormal, a Joseph-form covariance update, and its gradient in the noise
    parameter; an RTS smoother pass with linalg.inv."""

    def program(L):
        f64 = L.float64
        obs = L.tensor(KF_OBS)
        log_q = L.tensor(-2.0, dtype=f64, requires_grad=True)
        F = L.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=f64)
        H = L.tensor([[1.0, 0.0]], dtype=f64)
        R = L.tensor([[0.25]], dtype=f64)
        Q = log_q.exp() * L.tensor([[1 / 3, 1 / 2], [1 / 2, 1.0]], dtype=f64)
        x, P = L.zeros(2, dtype=f64), L.eye(2, dtype=f64)
        ll = 0
        means, covs, preds = [], [], []
        for z in obs:
            x_pred, P_pred = F @ x, F @ P @ F.T + Q
            preds.append((x_pred, P_pred))
            S = H @ P_pred @ H.T + R
            K = L.linalg.solve(S, H @ P_pred).T
            innov = z.reshape(1) - H @ x_pred
            ll = ll + L.distributions.MultivariateNormal(L.zeros(1, dtype=f64), S).log_prob(innov)
            x = x_pred + K @ innov
            I_KH = L.eye(2, dtype=f64) - K @ H
            P = I_KH @ P_pred @ I_KH.T + K @ R @ K.T
            means.append(x)
            covs.append(P)
        ll.backward()
        xs, Ps = means[-1].detach(), covs[-1].detach()
        smoothed = [xs]
        for k in range(len(means) - 2, -1, -1):
            xp, Pp = preds[k + 1]
            C = covs[k].detach() @ F.T @ L.linalg.inv(Pp.detach())
            xs = means[k].detach() + C @ (xs - xp.detach())
            smoothed.append(xs)
        return [ll, log_q.grad, L.stack(means).detach(), Ps, L.stack(smoothed[::-1])]

    _both(program, 1e-9)


KF_OBS = np.cumsum(np.random.default_rng(12).standard_normal(8)) + np.arange(8)


class _Coupling:
    """A RealNVP affine coupling layer built for either library: y = x * m + (1 - m) * (x * exp(s) + t)."""

    @staticmethod
    def make(L, dim: int, mask):
        class Coupling(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("mask", L.tensor(mask, dtype=L.float32))
                self.s = L.nn.Sequential(L.nn.Linear(dim, 16), L.nn.LeakyReLU(0.2), L.nn.Linear(16, dim), L.nn.Tanh())
                self.t = L.nn.Sequential(L.nn.Linear(dim, 16), L.nn.LeakyReLU(0.2), L.nn.Linear(16, dim))

            def forward(self, x):
                xm = x * self.mask
                s = self.s(xm) * (1 - self.mask)
                t = self.t(xm) * (1 - self.mask)
                return xm + (1 - self.mask) * (x * L.exp(s) + t), s.sum(dim=1)

            def inverse(self, y):
                ym = y * self.mask
                s = self.s(ym) * (1 - self.mask)
                t = self.t(ym) * (1 - self.mask)
                return ym + (1 - self.mask) * (y - t) * L.exp(-s)

        return Coupling()


def test_realnvp_coupling_flow() -> None:
    """RealNVP on 2-D data: alternating-mask coupling layers in an nn.ModuleList, the log-likelihood under a
    base distributions.MultivariateNormal, an Adam step, then the inverse (round trip to 1e-6)."""

    def program(L):
        layers = L.nn.ModuleList(
            [
                _load(L, _Coupling.make(L, 2, m), 20 + i, 0.3, np.float32)
                for i, m in enumerate([[1, 0], [0, 1], [1, 0], [0, 1]])
            ]
        )
        base = L.distributions.MultivariateNormal(L.zeros(2), L.eye(2))
        x = L.tensor(FLOW_X)
        opt = L.optim.Adam(layers.parameters(), lr=1e-3)

        def log_prob(z):
            logdet = L.zeros(z.shape[0])
            for layer in layers:
                z, ld = layer(z)
                logdet = logdet + ld
            return base.log_prob(z) + logdet, z

        lp, z = log_prob(x)
        loss = -lp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with L.no_grad():
            lp2, z2 = log_prob(x)
            back = z2
            for layer in reversed(layers):
                back = layer.inverse(back)
        return [lp.detach(), loss, lp2, L.allclose(back, x, atol=1e-5), layers[0].s[0].weight.grad.shape]

    _both(program, 1e-4)


FLOW_X = (np.random.default_rng(13).standard_normal((32, 2)) * [2.0, 0.5]).astype(np.float32)


def test_transformed_distribution_affine_and_exp() -> None:
    """TransformedDistribution(Normal, [AffineTransform, ExpTransform]) against LogNormal, log_abs_det_jacobian
    of the transforms, their inverses, event_dim of AffineTransform with an Independent base, the
    ComposeTransform / .inv API, and SigmoidTransform's log-det."""

    def program(L):
        D = L.distributions
        T = D.transforms
        base = D.Normal(L.tensor(0.0, dtype=L.float64), L.tensor(1.0, dtype=L.float64))
        td = D.TransformedDistribution(base, [T.AffineTransform(0.5, 2.0), T.ExpTransform()])
        ln = D.LogNormal(L.tensor(0.5, dtype=L.float64), L.tensor(2.0, dtype=L.float64))
        y = L.tensor([0.3, 1.0, 4.0], dtype=L.float64)
        comp = T.ComposeTransform([T.AffineTransform(0.5, 2.0), T.ExpTransform()])
        x = comp.inv(y)
        mv = D.TransformedDistribution(
            D.Independent(D.Normal(L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64)), 1),
            T.AffineTransform(
                L.tensor([1.0, 2.0, 3.0], dtype=L.float64), L.tensor([0.5, 1.0, 2.0], dtype=L.float64), event_dim=1
            ),
        )
        sig = T.SigmoidTransform()
        u = L.tensor([-2.0, 0.0, 3.0], dtype=L.float64)
        return [
            td.log_prob(y),
            ln.log_prob(y),
            x,
            comp.log_abs_det_jacobian(x, y),
            comp(x),
            mv.log_prob(y),
            mv.batch_shape,
            mv.event_shape,
            sig.log_abs_det_jacobian(u, sig(u)),
            sig.inv(sig(u)),
            td.cdf(y),
            T.ExpTransform().inv.log_abs_det_jacobian(y, y.log()),
            str(comp.codomain),
            comp.bijective,
            td.support.check(y),
        ]

    _both(program, 1e-10)


def test_variational_inference_with_rsample_and_kl() -> None:
    """Mean-field VI for a Bayesian logistic regression: q = Normal(mu, softplus(rho)), reparameterized draws
    (mu + sigma * eps with eps from NumPy, and the shapes of q.rsample), ELBO with kl_divergence against the
    prior (Normal-Normal and Independent), a few SGD steps."""

    def program(L):
        D = L.distributions
        F = L.nn.functional
        X = L.tensor(VI_X)
        yb = L.tensor(VI_Y)
        mu = L.zeros(3, dtype=L.float64, requires_grad=True)
        rho = L.full((3,), -3.0, dtype=L.float64, requires_grad=True)
        opt = L.optim.SGD([mu, rho], lr=0.05, momentum=0.9)
        prior = D.Normal(L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64))
        eps = L.tensor(VI_EPS)
        hist = []
        for step in range(3):
            opt.zero_grad()
            q = D.Normal(mu, F.softplus(rho))
            w = q.loc + q.scale * eps[step]  # (S, 3)
            loglik = -F.binary_cross_entropy_with_logits(w @ X.T, yb.expand(4, -1), reduction="sum") / 4
            kl = D.kl_divergence(q, prior).sum()
            kl_ind = D.kl_divergence(D.Independent(q, 1), D.Independent(prior, 1))
            loss = kl - loglik
            loss.backward()
            opt.step()
            hist.append([loss.detach(), kl_ind.detach()])
        q = D.Normal(mu, F.softplus(rho))
        return [
            hist,
            mu.detach(),
            rho.detach(),
            q.rsample((5,)).shape,
            q.rsample((5,)).requires_grad,
            q.sample((2,)).requires_grad,
            q.has_rsample,
            D.Independent(q, 1).rsample().shape,
        ]

    _both(program, 1e-10)


VI_X = np.random.default_rng(14).standard_normal((10, 3))
VI_Y = (VI_X @ [1.0, -1.0, 0.5] > 0).astype(np.float64)
VI_EPS = np.random.default_rng(15).standard_normal((3, 4, 3))


def test_hmc_leapfrog_with_autograd() -> None:
    """Hamiltonian Monte Carlo: the potential is minus a Gaussian-funnel log density, its gradient by
    autograd.grad, leapfrog steps, the Metropolis acceptance probability; momenta and uniforms from NumPy."""

    def program(L):
        D = L.distributions

        def log_density(z):
            v, x = z[0], z[1:]
            return D.Normal(0.0, 3.0).log_prob(v) + D.Normal(L.zeros_like(x), L.exp(v / 2)).log_prob(x).sum()

        def grad_U(z):
            z = z.detach().requires_grad_(True)
            U = -log_density(z)
            (g,) = L.autograd.grad(U, z)
            return U.detach(), g

        z = L.tensor([0.5, 1.0, -0.5], dtype=L.float64)
        accepted, probs = [], []
        for i in range(4):
            p0 = L.tensor(HMC_P[i])
            U0, g = grad_U(z)
            q, p = z.clone(), p0 - 0.5 * 0.1 * g
            for j in range(5):
                q = q + 0.1 * p
                U1, g = grad_U(q)
                if j < 4:
                    p = p - 0.1 * g
            p = p - 0.5 * 0.1 * g
            H0 = U0 + 0.5 * p0.dot(p0)
            H1 = U1 + 0.5 * p.dot(p)
            a = L.clamp(L.exp(H0 - H1), max=1.0)
            probs.append(a)
            if HMC_U[i] < a.item():
                z = q
                accepted.append(i)
        return [z, L.stack(probs), accepted]

    _both(program, 1e-10)


HMC_P = np.random.default_rng(16).standard_normal((4, 3))
HMC_U = np.random.default_rng(17).uniform(size=4)


def test_gaussian_mixture_with_mixture_same_family() -> None:
    """A 1-D and a 2-D Gaussian mixture with MixtureSameFamily (Categorical(logits=...) mixing, Normal and
    Independent(Normal) components): log_prob, mean, variance, cdf, sample shapes, and EM-style
    responsibilities by hand with logsumexp, compared with the library's log_prob; a gradient step."""

    def program(L):
        D = L.distributions
        logits = L.tensor([0.2, -0.1, 0.4], dtype=L.float64, requires_grad=True)
        locs = L.tensor([-2.0, 0.0, 3.0], dtype=L.float64, requires_grad=True)
        scales = L.tensor([0.5, 1.0, 0.8], dtype=L.float64)
        gmm = D.MixtureSameFamily(D.Categorical(logits=logits), D.Normal(locs, scales))
        x = L.tensor([-2.5, -0.3, 0.0, 1.7, 3.2], dtype=L.float64)
        lp = gmm.log_prob(x)
        comp_lp = D.Normal(locs, scales).log_prob(x.unsqueeze(-1)) + L.log_softmax(logits, -1)
        resp = L.softmax(comp_lp, dim=-1)
        (-lp.sum()).backward()
        gmm2 = D.MixtureSameFamily(
            D.Categorical(probs=L.tensor([0.3, 0.7], dtype=L.float64)),
            D.Independent(
                D.Normal(
                    L.tensor([[0.0, 0.0], [1.0, -1.0]], dtype=L.float64),
                    L.tensor([[1.0, 0.5], [0.3, 2.0]], dtype=L.float64),
                ),
                1,
            ),
        )
        return [
            lp,
            L.logsumexp(comp_lp, -1),
            resp,
            gmm.mean,
            gmm.variance,
            gmm.cdf(x),
            logits.grad,
            locs.grad,
            gmm.sample((4,)).shape,
            gmm2.log_prob(L.tensor([[0.5, 0.5], [1.0, -2.0]], dtype=L.float64)),
            gmm2.mean,
            gmm2.variance,
            gmm2.batch_shape,
            gmm2.event_shape,
            gmm2.sample((3, 2)).shape,
        ]

    _both(program, 1e-10)


# ------------------------------------------------------------------ numerics: linalg
LA_A = np.random.default_rng(30).standard_normal((4, 4))
LA_B = np.random.default_rng(31).standard_normal((6, 3))


def test_linalg_decompositions_and_reconstructions() -> None:
    """eigh (UPLO='U'), eigvalsh, svd(full_matrices=False) and its reconstruction, svdvals, qr in 'reduced',
    'complete' and 'r' modes, lstsq (residuals, rank), pinv (hermitian=True too), matrix_rank with atol/rtol,
    batched ops on a stacked input."""

    def program(L):
        A = L.tensor(LA_A)
        S = A @ A.mT + L.eye(4, dtype=L.float64)
        B = L.tensor(LA_B)
        w, V = L.linalg.eigh(S)
        wu = L.linalg.eigvalsh(S, UPLO="U")
        U, s, Vh = L.linalg.svd(B, full_matrices=False)
        Uf = L.linalg.svd(B).U
        Q, R = L.linalg.qr(B)
        Qc, Rc = L.linalg.qr(B, mode="complete")
        Qr, Rr = L.linalg.qr(B, mode="r")
        ls = L.linalg.lstsq(B, L.ones(6, 2, dtype=L.float64))
        batch = L.stack([S, 2 * S])
        return [
            w,
            (V.abs() @ L.ones(4, dtype=L.float64)).shape,
            wu,
            (V * w) @ V.mT,
            s,
            U @ L.diag(s) @ Vh,
            Uf.shape,
            L.linalg.svdvals(B),
            (Q @ R),
            Qc.shape,
            Rc.shape,
            Qr.shape,
            Rr.abs(),
            ls.solution,
            ls.residuals,
            ls.rank,
            L.linalg.pinv(B),
            L.linalg.pinv(S, hermitian=True),
            L.linalg.matrix_rank(B),
            L.linalg.matrix_rank(S, atol=1.0, rtol=0.0),
            L.linalg.eigvalsh(batch),
            L.linalg.det(batch),
            L.linalg.inv(batch).shape,
        ]

    _both(program, 1e-9)


def test_linalg_matrix_functions_norms_and_conditioning() -> None:
    """matrix_exp (a rotation generator, and its gradient), det/slogdet/logdet with gradients, every norm
    order of linalg.norm / matrix_norm / vector_norm, cond in each p, matrix_power with negative exponents,
    multi_dot, vecdot, cross, kron, block_diag, tensordot and torch.finfo-based tolerances."""

    def program(L):
        A = L.tensor(LA_A, requires_grad=True)
        theta = L.tensor(0.3, dtype=L.float64, requires_grad=True)
        G = L.stack([L.stack([L.zeros_like(theta), -theta]), L.stack([theta, L.zeros_like(theta)])])
        Rm = L.linalg.matrix_exp(G)
        Rm[0, 1].backward()
        sign, logabs = L.linalg.slogdet(A)
        (L.linalg.det(A) + logabs).backward()
        Ad = A.detach()
        norms = {str(o): L.linalg.norm(Ad, ord=o) for o in ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]}
        vnorms = {str(o): L.linalg.vector_norm(Ad, ord=o, dim=1) for o in [0, 1, 2, 3.5, math.inf, -math.inf]}
        conds = {str(p): L.linalg.cond(Ad, p=p) for p in [None, "fro", "nuc", 2, -2, 1, math.inf]}
        eps = L.finfo(Ad.dtype).eps
        rank_tol = L.linalg.svdvals(Ad).max() * max(Ad.shape) * eps
        v = L.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]], dtype=L.float64)
        return [
            Rm,
            theta.grad,
            sign,
            logabs,
            A.grad,
            L.logdet(Ad @ Ad.T),
            norms,
            vnorms,
            conds,
            L.linalg.matrix_norm(Ad, ord="fro", keepdim=True).shape,
            L.norm(Ad, p="fro"),
            L.norm(Ad, dim=0, p=3),
            L.linalg.matrix_power(Ad, -2),
            L.linalg.multi_dot([Ad, Ad.T, Ad]),
            L.linalg.vecdot(v, v.flip(1)),
            L.linalg.cross(v[0], v[1]),
            L.kron(Ad[:2, :2], L.eye(2, dtype=L.float64)),
            L.block_diag(Ad[:2, :2], L.ones(1, 3, dtype=L.float64)).shape,
            L.tensordot(Ad, Ad, dims=([1], [0])),
            rank_tol,
            eps,
        ]

    _both(program, 1e-9)


def test_linalg_solvers_and_factorizations() -> None:
    """lu_factor/lu_solve, linalg.lu (P, L, U), lu_unpack, solve with left=False, solve_ex/cholesky_ex/inv_ex
    info, eig/eigvals of a non-symmetric matrix (complex results, compared sorted), householder QR via geqrf,
    Newton's method for a nonlinear system with jacfwd + linalg.solve."""

    def program(L):
        A = L.tensor(LA_A)
        b = L.tensor(LA_B[:4])
        LU, piv = L.linalg.lu_factor(A)
        x = L.linalg.lu_solve(LU, piv, b)
        P, Lo, U = L.linalg.lu(A)
        P2, L2, U2 = L.lu_unpack(LU, piv)
        xr = L.linalg.solve(A, b[:, 0])
        right = L.linalg.solve(A, L.eye(4, dtype=L.float64)[:2], left=False)
        info = [L.linalg.solve_ex(A, b).info, L.linalg.cholesky_ex(A).info, L.linalg.inv_ex(A).info]
        ev = L.linalg.eigvals(A)
        order = L.argsort(ev.real * 1000 + ev.imag)
        w, V = L.linalg.eig(A)
        recon = (V @ L.diag_embed(w) @ L.linalg.inv(V)).real

        def F(z):
            return L.stack([z[0] ** 2 + z[1] ** 2 - 4, L.exp(z[0]) + z[1] - 1])

        z = L.tensor([1.0, -1.0], dtype=L.float64)
        for _ in range(6):
            z = z - L.linalg.solve(L.func.jacfwd(F)(z), F(z))
        return [x, P, Lo, U, P2, L2, U2, xr, right, info, ev[order], ev.dtype == L.complex128, recon, z, F(z)]

    _both(program, 1e-9)


def test_linalg_errors_as_torch() -> None:
    """The slips of numerical code raise torch's exceptions: cholesky of an indefinite matrix
    (linalg.LinAlgError naming the minor), inv/solve of a singular matrix, solve with mismatched shapes,
    cdist with different feature sizes, eigh of a non-square matrix, matmul shape mismatch."""

    def program(L):
        indefinite = L.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=L.float64)
        singular = L.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=L.float64)
        errs = [
            _error(lambda: L.linalg.cholesky(indefinite)),
            _error(lambda: L.linalg.inv(singular)),
            _error(lambda: L.linalg.solve(singular, L.ones(2, dtype=L.float64))),
            _error(lambda: L.linalg.solve(indefinite, L.ones(3, dtype=L.float64))),
            _error(lambda: L.cdist(L.ones(3, 2), L.ones(4, 3))),
            _error(lambda: L.linalg.eigh(L.ones(2, 3))),
            _error(lambda: L.ones(2, 3) @ L.ones(2, 3)),
            _error(lambda: L.linalg.cholesky(L.ones(2, 2, dtype=L.int64))),
        ]
        return [*errs, isinstance(L.linalg.LinAlgError(), RuntimeError), L.linalg.LinAlgError.__name__]

    _both(program)


# ------------------------------------------------------------------ complex tensors, FFT, spectral methods
SIG = np.sin(2 * np.pi * 5 * np.linspace(0, 1, 64, endpoint=False)) + 0.3 * np.cos(
    2 * np.pi * 12 * np.linspace(0, 1, 64, endpoint=False)
)


def test_complex_tensors_polar_and_printing() -> None:
    """torch.polar, complex(), view_as_real/view_as_complex, abs/angle/conj/real/imag, complex matmul, the
    default complex dtype of Python complex numbers, complex reprs as printed, is_complex, and a real-valued
    loss of a complex parameter differentiated (torch's conjugate Wirtinger convention)."""

    def program(L):
        mag = L.tensor([1.0, 2.0, 0.5])
        ang = L.tensor([0.0, math.pi / 2, -math.pi / 4])
        z = L.polar(mag, ang)
        w = L.complex(L.tensor([1.0, -1.0]), L.tensor([2.0, 0.5]))
        r = L.view_as_real(w)
        back = L.view_as_complex(L.tensor([[1.0, 2.0], [3.0, -4.0]]))
        p = L.tensor([1 + 2j, -0.5 + 1j], requires_grad=True)
        M = L.tensor([[1 + 1j, 2], [0, 1 - 1j]])
        loss = (M @ p).abs().pow(2).sum() + (p * p.conj()).real.sum()
        loss.backward()
        return [
            z,
            z.abs(),
            z.angle(),
            w.conj(),
            r,
            back,
            back.real,
            back.imag,
            p.grad,
            loss,
            z.dtype,
            M.dtype,
            L.tensor(1j).dtype,
            repr(back),
            repr(L.tensor([1.5 - 2j, 0.25j])),
            str(M),
            z.is_complex(),
            L.is_complex(mag),
            (z * 1j).dtype,
            L.sgn(back),
            L.exp(1j * ang).dtype,
        ]

    _both(program, 1e-6)


def test_rfft_spectrum_filtering_and_fftshift() -> None:
    """rfft / irfft (n=, norm='ortho' and 'forward'), rfftfreq, a low-pass filter by zeroing bins, the power
    spectrum peak, fftshift/ifftshift with fftfreq, fft2/ifft2 round trip, hfft, and the gradient through rfft
    of a spectral loss."""

    def program(L):
        x = L.tensor(SIG, requires_grad=True)
        X = L.fft.rfft(x)
        freqs = L.fft.rfftfreq(64, d=1 / 64)
        keep = (freqs < 8).to(X.dtype)
        low = L.fft.irfft(X * keep, n=64)
        power = X.abs() ** 2
        loss = (power * freqs).sum() / power.sum()
        loss.backward()
        img = L.tensor(SIG[:48].reshape(6, 8))
        F2 = L.fft.fft2(img)
        errs = [
            _error(lambda: L.fft.irfft(X.detach(), n=0)),
            _error(lambda: L.fft.rfft(x.detach(), n=-1)),
            _error(lambda: L.fft.rfft(X.detach())),
            _error(lambda: L.fft.rfft2(F2)),
            _error(lambda: L.fft.fft(x.detach(), dim=1)),
            _error(lambda: L.fft.fft(x.detach(), norm="orthonormal")),
            _error(lambda: L.fft.fftn(img, dim=(0, 0))),
            _error(lambda: L.fft.fftshift(img, dim=2)),
        ]
        return [
            X.detach(),
            freqs,
            low.detach(),
            freqs[power.argmax()],
            x.grad,
            L.fft.rfft(x.detach(), norm="ortho"),
            L.fft.irfft(X.detach(), n=63, norm="forward"),
            L.fft.fftshift(L.fft.fftfreq(8)),
            L.fft.ifftshift(L.arange(6)),
            L.fft.fftshift(F2, dim=(-2, -1)),
            L.fft.ifft2(F2).real,
            L.fft.hfft(X.detach()[:9]),
            L.fft.fft(img, dim=0).shape,
            X.dtype,
            low.dtype,
            errs,
        ]

    _both(program, 1e-9)


def test_fourier_neural_operator_spectral_conv() -> None:
    """An FNO SpectralConv1d: complex weights (nn.Parameter of torch.cfloat, scaled rand replaced by loaded
    values), rfft, einsum('bix,iox->box') over the kept modes, irfft(n=...); the block with a 1x1 Conv1d and GELU;
    a backward pass giving complex gradients to the complex weights, and an Adam step on them."""

    def program(L):
        class SpectralConv1d(L.nn.Module):
            def __init__(self, cin, cout, modes):
                super().__init__()
                self.modes = modes
                scale = 1 / (cin * cout)
                self.weights = L.nn.Parameter(scale * L.ones(cin, cout, modes, dtype=L.cfloat))

            def forward(self, x):
                x_ft = L.fft.rfft(x)
                out_ft = L.zeros(x.shape[0], self.weights.shape[1], x.shape[-1] // 2 + 1, dtype=L.cfloat)
                out_ft[:, :, : self.modes] = L.einsum("bix,iox->box", x_ft[:, :, : self.modes], self.weights)
                return L.fft.irfft(out_ft, n=x.size(-1))

        class FNOBlock(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.spec = SpectralConv1d(3, 3, 4)
                self.w = L.nn.Conv1d(3, 3, 1)

            def forward(self, x):
                return L.nn.functional.gelu(self.spec(x) + self.w(x))

        blk = FNOBlock()
        rs = np.random.default_rng(40)
        with L.no_grad():
            blk.spec.weights.copy_(L.tensor((rs.standard_normal((3, 3, 4)) + 1j * rs.standard_normal((3, 3, 4))) / 9))
            blk.w.weight.copy_(L.tensor(rs.standard_normal((3, 3, 1)).astype(np.float32)))
            blk.w.bias.zero_()
        x = L.tensor(FNO_X)
        opt = L.optim.Adam(blk.parameters(), lr=1e-2)
        y = blk(x)
        loss = y.pow(2).mean()
        loss.backward()
        g = blk.spec.weights.grad.clone()
        opt.step()
        return [y.detach(), loss, g, g.dtype, blk.spec.weights.detach(), blk.spec.weights.dtype, y.shape]

    _both(program, 1e-4)


FNO_X = np.random.default_rng(41).standard_normal((2, 3, 16)).astype(np.float32)


def test_stft_istft_round_trip() -> None:
    """stft with a Hann window (return_complex=True, center=True, reflect padding, onesided), the magnitude
    spectrogram's shape, istft back to the signal (length=), normalized=True, and the error when return_complex
    is omitted for a real input."""

    def program(L):
        x = L.tensor(np.tile(SIG, 2)[None].repeat(2, 0))
        win = L.hann_window(32, dtype=L.float64)
        S = L.stft(x, n_fft=32, hop_length=8, window=win, return_complex=True)
        y = L.istft(S, n_fft=32, hop_length=8, window=win, length=128)
        Sn = L.stft(
            x[0],
            32,
            hop_length=16,
            win_length=24,
            window=L.hamming_window(24, dtype=L.float64),
            normalized=True,
            center=False,
            return_complex=True,
        )
        err = _error(lambda: L.stft(x, 32, window=win))
        return [
            S,
            S.shape,
            S.abs().pow(2).mean(-1),
            y,
            L.allclose(y, x),
            Sn,
            err,
            win[:4],
            L.hann_window(8, periodic=False, dtype=L.float64),
            L.blackman_window(6, dtype=L.float64),
            L.kaiser_window(5, False, 8.0, dtype=L.float64),
            L.hann_window(8).dtype,
        ]

    _both(program, 1e-9)


# ------------------------------------------------------------------ integration, binning, quantiles
def test_trapezoid_and_cumulative_trapezoid_quadrature() -> None:
    """trapezoid with x= and dx=, along dim, cumulative_trapezoid for an antiderivative, Simpson by hand with
    slicing, the error function via quadrature of exp(-t^2), and gradients of the integral w.r.t. the
    integrand's parameter."""

    def program(L):
        t = L.linspace(0, 2, 41, dtype=L.float64)
        a = L.tensor(1.5, dtype=L.float64, requires_grad=True)
        f = L.exp(-a * t**2)
        integral = L.trapezoid(f, t)
        integral.backward()
        h = t[1] - t[0]
        simpson = h / 3 * (f[0] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum() + f[-1])
        F = L.cumulative_trapezoid(L.exp(-(t**2)), t)
        erf_q = 2 / math.sqrt(math.pi) * F[-1]
        grid = L.stack([L.sin(t), L.cos(t)])
        return [
            integral,
            a.grad,
            simpson,
            F[::10],
            erf_q,
            L.special.erf(L.tensor(2.0, dtype=L.float64)),
            L.trapezoid(grid, dx=0.05, dim=1),
            L.cumulative_trapezoid(grid, dx=0.05).shape,
            L.trapz(f.detach(), t),
            L.trapezoid(L.tensor([1, 2, 3])),
            L.cumulative_trapezoid(L.tensor([1, 2, 3])),
        ]

    _both(program, 1e-12)


def test_searchsorted_bucketize_histc_for_binning() -> None:
    """Inverse-CDF sampling with searchsorted on a cumsum (right=True, side='left', sorter=), bucketize with
    right=, histc and histogram (density, weights), an empirical CDF, and the interpolation table lookup
    users write for piecewise-linear functions."""

    def program(L):
        w = L.tensor([0.1, 0.4, 0.2, 0.3], dtype=L.float64)
        cdf = L.cumsum(w, 0)
        u = L.tensor([0.05, 0.1, 0.45, 0.7, 0.99], dtype=L.float64)
        idx = L.searchsorted(cdf, u)
        idx_r = L.searchsorted(cdf, u, right=True)
        idx_s = L.searchsorted(cdf, u, side="right", out_int32=True)
        unsorted = L.tensor([3.0, 1.0, 2.0], dtype=L.float64)
        srt = L.searchsorted(unsorted, L.tensor([1.5, 2.5], dtype=L.float64), sorter=L.argsort(unsorted))
        bounds = L.tensor([0.0, 1.0, 2.0, 3.0])
        v = L.tensor([-0.5, 0.0, 0.5, 1.0, 2.9, 3.0, 4.0])
        data = L.tensor(BIN_DATA)
        hist = L.histc(data, bins=5, min=-2, max=2)
        h2 = L.histogram(data, bins=4, range=(-2.0, 2.0), density=True)
        h3 = L.histogram(data, bins=L.tensor([-3.0, -1.0, 0.0, 3.0]), weight=L.ones_like(data) * 0.5)
        xs = L.tensor([0.0, 1.0, 2.0, 4.0])
        ys = L.tensor([0.0, 10.0, 15.0, 35.0])
        q = L.tensor([0.5, 1.5, 3.0])
        j = L.searchsorted(xs, q).clamp(1, len(xs) - 1)
        interp = ys[j - 1] + (q - xs[j - 1]) * (ys[j] - ys[j - 1]) / (xs[j] - xs[j - 1])
        ecdf = L.searchsorted(data.sort().values, L.tensor([-1.0, 0.0, 1.0]), right=True) / data.numel()
        return [
            idx,
            idx_r,
            idx_s,
            idx_s.dtype,
            srt,
            L.bucketize(v, bounds),
            L.bucketize(v, bounds, right=True),
            hist,
            h2.hist,
            h2.bin_edges,
            h3.hist,
            interp,
            ecdf,
            L.histc(L.tensor([1.0, 1.0, 1.0]), bins=3),
            _error(lambda: L.histc(L.tensor([1, 2]), bins=2)),
            _error(lambda: L.histc(data, bins=0)),
            _error(lambda: L.histc(data, min=2, max=1)),
            _error(lambda: L.histc(L.tensor([1.0, math.inf]), bins=2)),
            _error(lambda: L.bucketize(v, bounds.reshape(2, 2))),
            _error(lambda: L.searchsorted(cdf.unsqueeze(0), u)),
        ]

    _both(program, 1e-6)


BIN_DATA = np.random.default_rng(42).standard_normal(50).astype(np.float32)


def test_quantile_and_nanquantile_for_intervals() -> None:
    """Credible intervals from posterior draws: quantile with a tensor of q, each interpolation mode, dim and
    keepdim, nanquantile ignoring NaNs, median/nanmedian, and the errors for q outside [0, 1] and for mismatched
    dtypes of q."""

    def program(L):
        draws = L.tensor(QUANT_DRAWS)
        q = L.tensor([0.025, 0.5, 0.975], dtype=L.float64)
        modes = {
            m: L.quantile(draws, q, dim=0, interpolation=m)
            for m in ["linear", "lower", "higher", "midpoint", "nearest"]
        }
        with_nan = draws.clone()
        with_nan[::7, 1] = float("nan")
        return [
            modes,
            L.quantile(draws, 0.9),
            L.quantile(draws, q, dim=1, keepdim=True).shape,
            L.nanquantile(with_nan, q, dim=0),
            L.quantile(with_nan, 0.5, dim=0),
            with_nan.nanmedian(dim=0),
            draws.median(dim=0),
            draws.float().quantile(0.5, dim=0).dtype,
            _error(lambda: L.quantile(draws, 1.5)),
            _error(lambda: L.quantile(draws, L.tensor([0.5]))),
            _error(lambda: L.quantile(draws, 0.5, interpolation="cubic")),
        ]

    _both(program, 1e-10)


QUANT_DRAWS = np.random.default_rng(43).standard_normal((40, 3))


# ------------------------------------------------------------------ special functions, dtypes, tolerances
def test_special_functions_in_likelihoods() -> None:
    """Log-likelihoods written with torch.special / lgamma as statisticians write them (Student-t, Beta,
    negative binomial, Dirichlet, probit via ndtr/log_ndtr, von Mises via i0e), compared with
    torch.distributions where it has them, with gradients; xlogy/xlog1py/entr/multigammaln/polygamma/zeta."""

    def program(L):
        sp = L.special
        nu = L.tensor(4.5, dtype=L.float64, requires_grad=True)
        x = L.tensor([-1.5, 0.2, 3.0], dtype=L.float64)
        t_ll = (
            sp.gammaln((nu + 1) / 2)
            - sp.gammaln(nu / 2)
            - 0.5 * L.log(nu * math.pi)
            - (nu + 1) / 2 * L.log1p(x**2 / nu)
        )
        t_ll.sum().backward()
        a, b = L.tensor(2.0, dtype=L.float64), L.tensor(3.5, dtype=L.float64)
        p = L.tensor([0.1, 0.5, 0.9], dtype=L.float64)
        beta_ll = sp.xlogy(a - 1, p) + sp.xlog1py(b - 1, -p) - (L.lgamma(a) + L.lgamma(b) - L.lgamma(a + b))
        k, r, pr = L.tensor([0.0, 3.0, 7.0], dtype=L.float64), 2.5, 0.3
        nb = (
            L.lgamma(k + r)
            - L.lgamma(k + 1)
            - math.lgamma(r)
            + r * math.log(1 - pr)
            + sp.xlogy(k, L.tensor(pr, dtype=L.float64))
        )
        z = L.tensor([-3.0, 0.0, 2.0], dtype=L.float64)
        kappa = L.tensor(2.0, dtype=L.float64)
        vm = kappa * L.cos(z - 0.5) - math.log(2 * math.pi) - (L.log(sp.i0e(kappa)) + kappa)
        D = L.distributions
        return [
            t_ll,
            nu.grad,
            D.StudentT(nu.detach()).log_prob(x),
            beta_ll,
            D.Beta(a, b).log_prob(p),
            nb,
            D.NegativeBinomial(r, probs=L.tensor(pr, dtype=L.float64)).log_prob(k),
            sp.ndtr(z),
            sp.log_ndtr(z),
            sp.ndtri(L.tensor([0.025, 0.5], dtype=L.float64)),
            vm,
            # (torch's VonMises uses a polynomial approximation of log I0 good to ~1e-9; ours SciPy's i0e)
            L.round(D.VonMises(L.tensor(0.5, dtype=L.float64), kappa).log_prob(z), decimals=7),
            sp.entr(p),
            sp.multigammaln(L.tensor([2.5, 3.0], dtype=L.float64), 2),
            sp.polygamma(1, a),
            sp.digamma(p),
            sp.zeta(L.tensor([2.0, 3.0], dtype=L.float64), 1.0),
            sp.erfcx(z),
            sp.logit(p, eps=1e-6),
            sp.expit(z),
            sp.i1e(z),
            sp.log1p(p),
            sp.gammainc(a, p),
            sp.gammaincc(a, p),
            sp.sinc(z),
            sp.softmax(z, 0),
            sp.logsumexp(z, 0),
            sp.bessel_j0(z),
            sp.erfinv(p * 2 - 1),
        ]

    _both(program, 1e-9)


def test_orthogonal_polynomials_and_spectral_fit() -> None:
    """Chebyshev / Legendre / Hermite polynomials from torch.special as a basis, a least-squares spectral fit
    with linalg.lstsq, Clenshaw-free evaluation, and the recurrences by hand compared with the library's."""

    def program(L):
        sp = L.special
        x = L.linspace(-1, 1, 25, dtype=L.float64)
        n = L.arange(6)
        T = sp.chebyshev_polynomial_t(x.unsqueeze(-1), n)
        P = sp.legendre_polynomial_p(x.unsqueeze(-1), n)
        H = sp.hermite_polynomial_h(x.unsqueeze(-1), n)
        He = sp.hermite_polynomial_he(x, 3)
        U = sp.chebyshev_polynomial_u(x, L.tensor(4))
        Lg = sp.laguerre_polynomial_l(x, 2)
        y = L.exp(x) * L.sin(3 * x)
        coef = L.linalg.lstsq(T, y.unsqueeze(-1)).solution.squeeze(-1)
        rec = [L.ones_like(x), x]
        for _ in range(4):
            rec.append(2 * x * rec[-1] - rec[-2])
        return [T, P, H, He, U, Lg, coef, (T @ coef - y).abs().max(), L.stack(rec, -1), T.dtype, T.shape]

    _both(program, 1e-9)


def test_default_dtype_float64_programs() -> None:
    """torch.set_default_dtype(torch.float64) as scientific code starts: factory functions, Python-float
    tensors, nn.Linear parameters, arange/linspace, complex defaults (complex128), integer tensors unchanged,
    get_default_dtype, the promotion of a float32 tensor with a Python float; restored afterwards."""

    def program(L):
        old = L.get_default_dtype()
        L.set_default_dtype(L.float64)
        try:
            lin = L.nn.Linear(2, 2)
            out = [
                L.get_default_dtype(),
                L.tensor(1.0).dtype,
                L.tensor([1, 2]).dtype,
                L.zeros(2).dtype,
                L.randn(2).dtype,
                L.arange(3.0).dtype,
                L.arange(3).dtype,
                L.linspace(0, 1, 3).dtype,
                lin.weight.dtype,
                L.tensor(1j).dtype,
                L.tensor(1.0 + 0j).dtype,
                L.full((2,), 1.5).dtype,
                L.empty(1).dtype,
                (L.ones(2, dtype=L.float32) * 2.5).dtype,
                L.tensor(np.float32(1)).dtype,
                L.as_tensor([0.1]).dtype,
                L.ones(2).sum().dtype,
                L.tensor(2).float().dtype,
                L.tensor(1.0).item().__class__.__name__,
                L.distributions.Normal(0.0, 1.0).loc.dtype,
                L.eye(2).dtype,
                L.rand(3).dtype,
                L.tensor(True).dtype,
                L.finfo().eps,
                L.finfo().dtype,
            ]
        finally:
            L.set_default_dtype(old)
        errs = [_error(lambda: L.set_default_dtype(L.int64)), _error(lambda: L.set_default_dtype(L.complex64))]
        return out + [L.get_default_dtype(), L.tensor(1.0).dtype] + errs

    _both(program)


def test_finfo_iinfo_tolerances() -> None:
    """torch.finfo fields (eps, tiny, smallest_normal, max, min, resolution, bits, dtype) for float16/bfloat16/
    float32/float64 and complex, iinfo, and the tolerances derived from them (sqrt(eps) finite-difference steps,
    rtol for allclose), printed as users print them."""

    def program(L):
        out = {}
        for name in ["float16", "bfloat16", "float32", "float64", "complex64"]:
            fi = L.finfo(getattr(L, name))
            out[name] = [fi.eps, fi.tiny, fi.smallest_normal, fi.max, fi.min, fi.resolution, fi.bits, fi.dtype]
        ii = L.iinfo(L.int32)
        out["int32"] = [ii.min, ii.max, ii.bits, ii.dtype]
        out["uint8"] = [L.iinfo(L.uint8).max, L.iinfo(L.uint8).min]
        x = L.tensor(1.0, dtype=L.float64, requires_grad=True)
        h = math.sqrt(L.finfo(x.dtype).eps)
        fd = ((L.sin(x + h) - L.sin(x - h)) / (2 * h)).item()
        L.sin(x).backward()
        out["fd"] = [abs(fd - x.grad.item()) < 1e-8, h]
        out["overflow"] = [L.tensor(L.finfo(L.float16).max, dtype=L.float16) * 2, L.tensor(60000.0).half() * 2]
        out["errs"] = [_error(lambda: L.finfo(L.int64)), _error(lambda: L.iinfo(L.float32))]
        return out

    _both(program)


# ------------------------------------------------------------------ physics simulation with autograd
def test_lennard_jones_forces_with_autograd() -> None:
    """Molecular dynamics: a Lennard-Jones energy over pairs from torch.pdist (and triu_indices for cdist),
    forces = -autograd.grad(E, pos), velocity Verlet steps, energy drift; torch.cdist with
    compute_mode='donot_use_mm_for_euclid_dist'."""

    def program(L):
        pos0 = L.tensor(LJ_POS)

        def energy(pos):
            r = L.pdist(pos)
            inv6 = (1.0 / r) ** 6
            return (4 * (inv6**2 - inv6)).sum()

        def forces(pos):
            pos = pos.detach().requires_grad_(True)
            e = energy(pos)
            (g,) = L.autograd.grad(e, pos)
            return e.detach(), -g

        pos, vel = pos0.clone(), L.zeros_like(pos0)
        e, f = forces(pos)
        energies = []
        for _ in range(5):
            vel = vel + 0.5 * 0.001 * f
            pos = pos + 0.001 * vel
            e, f = forces(pos)
            vel = vel + 0.5 * 0.001 * f
            energies.append(e + 0.5 * (vel**2).sum())
        i, j = L.triu_indices(4, 4, offset=1)
        d = L.cdist(pos0, pos0, compute_mode="donot_use_mm_for_euclid_dist")
        return [L.stack(energies), pos, f, d[i, j], L.pdist(pos0), L.pdist(pos0, p=1), f.sum(0)]

    _both(program, 1e-9)


LJ_POS = np.array([[0.0, 0.0, 0.0], [1.12, 0.0, 0.0], [0.0, 1.15, 0.0], [0.0, 0.0, 1.1]])


def test_poisson_solver_with_fft_and_finite_differences() -> None:
    """A periodic Poisson solve with fftn and wavenumbers from fftfreq on a meshgrid(indexing='ij'),
    checked with a 5-point Laplacian by torch.roll; torch.gradient (spacing, edge_order=2) and torch.diff
    (prepend/append, n=2) as numerical derivatives."""

    def program(L):
        n = 16
        xs = L.arange(n, dtype=L.float64) * (2 * math.pi / n)
        X, Y = L.meshgrid(xs, xs, indexing="ij")
        f = L.sin(X) * L.cos(2 * Y)
        k = L.fft.fftfreq(n, d=1 / n).to(L.float64)
        KX, KY = L.meshgrid(k, k, indexing="ij")
        k2 = KX**2 + KY**2
        k2[0, 0] = 1.0
        u_hat = -L.fft.fftn(f) / k2
        u_hat[0, 0] = 0
        u = L.fft.ifftn(u_hat).real
        h = 2 * math.pi / n
        lap = (L.roll(u, 1, 0) + L.roll(u, -1, 0) + L.roll(u, 1, 1) + L.roll(u, -1, 1) - 4 * u) / h**2
        g = L.gradient(f, spacing=h, dim=0)
        g2 = L.gradient(f, spacing=(xs, xs), edge_order=2)
        d = L.diff(xs, prepend=L.zeros(1, dtype=L.float64))
        return [
            u,
            (lap - f).abs().max(),
            g,
            g2,
            d,
            L.diff(f, n=2, dim=1, append=f[:, :2]).shape,
            L.gradient(L.tensor([1.0, 4.0, 9.0, 16.0])),
        ]

    _both(program, 1e-9)


def test_newton_and_implicit_differentiation() -> None:
    """A root solve by Newton with autograd.grad inside a loop (detach between steps), then the implicit function
    theorem for d x*/d theta via the derivatives at the root; compared against a finite difference; torch.where
    with a scalar, torch.no_grad loop, and autograd.grad with retain_graph reused."""

    def program(L):
        theta = L.tensor(0.7, dtype=L.float64, requires_grad=True)

        def g(x, th):
            return x**3 + th * x - 2.0

        x = L.tensor(1.0, dtype=L.float64)
        for _ in range(20):
            x = x.detach().requires_grad_(True)
            val = g(x, theta.detach())
            (dx,) = L.autograd.grad(val, x)
            with L.no_grad():
                x = x - val / dx
        x_star = x.detach().requires_grad_(True)
        val = g(x_star, theta)
        gx, gt = L.autograd.grad(val, (x_star, theta), retain_graph=True)
        dxdth = -gt / gx
        again = L.autograd.grad(val, theta)[0]
        return [x_star.detach(), dxdth, again, L.where(val.abs() < 1e-12, 0.0, val).detach()]

    _both(program, 1e-10)


# ------------------------------------------------------------------ autodiff slips
def test_autograd_errors_users_hit() -> None:
    """The exceptions of common autodiff slips: grad of a non-scalar without grad_outputs, backward twice, a
    tensor that does not require grad, an input not used in the graph, grad_outputs of the wrong shape,
    func.grad of a non-scalar, vmap over mismatched sizes and bad in_dims, jacrev of a non-tensor output,
    requires_grad on an integer tensor, an in-place change of a saved tensor."""

    def program(L):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        fn = L.func

        def twice():
            y = (x**2).sum()
            y.backward()
            y.backward()

        def inplace():
            a = x * 1
            b = a.sin()
            a.mul_(2)
            b.sum().backward()

        return [
            _error(lambda: L.autograd.grad(x * 2, x)),
            _error(lambda: (x * 2).backward()),
            _error(twice),
            _error(lambda: L.autograd.grad(L.ones(2).sum(), x)),
            _error(lambda: L.autograd.grad((x * 2).sum(), [x, L.ones(2, requires_grad=True)])),
            _error(lambda: L.autograd.grad(x * 2, x, grad_outputs=L.ones(3))),
            _error(lambda: fn.grad(lambda a: a * 2)(x)),
            _error(lambda: fn.vmap(lambda a, b: a + b)(L.ones(2, 3), L.ones(3, 3))),
            _error(lambda: fn.vmap(lambda a: a, in_dims=2)(L.ones(2, 3))),
            _error(lambda: fn.vmap(lambda a: a, in_dims=(0, 0))(L.ones(2, 3))),
            _error(lambda: fn.jacrev(lambda a: 3.0)(x)),
            _error(lambda: L.tensor([1, 2]).requires_grad_()),
            _error(inplace),
            _error(lambda: L.autograd.grad((x * 2).sum(), x.detach())),
        ]

    _both(program)


# ------------------------------------------------------------------ more functional autodiff and models
def test_forward_ad_dual_numbers_and_hvp() -> None:
    """torch.autograd.forward_ad (dual_level, make_dual, unpack_dual) for a directional derivative, the
    Hessian-vector product as forward-over-reverse with func.jvp(func.grad(f)), reverse-over-reverse with
    autograd.grad twice, and func.hessian of a dict of parameters."""

    def program(L):
        fwAD = L.autograd.forward_ad
        x = L.tensor(RNG_V[0][2])
        v = L.tensor(RNG_V[1][2])

        def f(a):
            return (a.sin() * a.roll(1)).sum() + a.pow(4).sum() / 4

        with fwAD.dual_level():
            dual = fwAD.make_dual(x, v)
            out = f(dual)
            primal, tangent = fwAD.unpack_dual(out)
        _, hvp = L.func.jvp(L.func.grad(f), (x,), (v,))
        xr = x.clone().requires_grad_()
        (g,) = L.autograd.grad(f(xr), xr, create_graph=True)
        (hvp2,) = L.autograd.grad(g, xr, grad_outputs=v)
        params = {"w": x, "b": L.tensor(0.5, dtype=L.float64)}
        H = L.func.hessian(lambda p: (p["w"] * p["b"]).exp().sum())(params)
        return [primal, tangent, hvp, hvp2, H, L.func.jacrev(L.func.jacrev(f))(x)]

    _both(program, 1e-10)


def test_vmap_over_linalg_and_batched_solves() -> None:
    """vmap over det/inv/solve/trace/cholesky/eigvalsh/matrix_exp/svdvals/dot (what users map when batching is
    not obvious), compared with the batched calls; vmap with out_dims=1 and a chunk_size."""

    def program(L):
        rs = np.random.default_rng(50)
        A = L.tensor(rs.standard_normal((5, 3, 3)))
        S = A @ A.mT + L.eye(3, dtype=L.float64)
        b = L.tensor(rs.standard_normal((5, 3)))
        vm = L.func.vmap
        return [
            vm(L.linalg.det)(A),
            L.linalg.det(A),
            vm(L.linalg.inv)(S),
            vm(L.linalg.solve)(S, b),
            vm(L.trace)(A),
            vm(L.linalg.cholesky)(S),
            vm(L.linalg.eigvalsh)(S),
            vm(L.linalg.matrix_exp)(A * 0.1),
            vm(L.linalg.svdvals)(A),
            vm(L.dot)(b, b),
            vm(L.outer, out_dims=1)(b, b).shape,
            vm(lambda m: m @ m, chunk_size=2)(A),
            vm(L.linalg.slogdet)(A),
        ]

    _both(program, 1e-10)


def test_hmm_forward_and_viterbi_in_log_space() -> None:
    """A hidden Markov model: the forward algorithm with logsumexp over a transition matrix from
    log_softmax, the log-likelihood's gradient w.r.t. the logits, Viterbi decoding with max/argmax and
    backtracking, and logcumsumexp / cummax used on the way."""

    def program(L):
        F = L.nn.functional
        trans_logits = L.tensor(
            [[1.0, 0.2, -0.5], [0.1, 0.8, 0.0], [-0.3, 0.4, 1.2]], dtype=L.float64, requires_grad=True
        )
        emis = L.tensor(HMM_EMIS)  # (T, K) log emission probabilities
        log_A = F.log_softmax(trans_logits, dim=-1)
        log_pi = L.full((3,), -math.log(3), dtype=L.float64)
        alpha = log_pi + emis[0]
        for t in range(1, emis.shape[0]):
            alpha = L.logsumexp(alpha.unsqueeze(-1) + log_A, dim=0) + emis[t]
        ll = L.logsumexp(alpha, dim=0)
        ll.backward()
        delta = log_pi + emis[0]
        back = []
        for t in range(1, emis.shape[0]):
            scores = delta.unsqueeze(-1) + log_A.detach()
            delta, arg = scores.max(dim=0)
            delta = delta + emis[t]
            back.append(arg)
        path = [int(delta.argmax())]
        for arg in reversed(back):
            path.append(int(arg[path[-1]]))
        return [
            ll,
            trans_logits.grad,
            path[::-1],
            L.logcumsumexp(emis[:, 0], 0),
            L.cummax(emis[:, 1], 0),
            L.cummin(emis[:, 2], 0).indices,
        ]

    _both(program, 1e-10)


HMM_EMIS = np.log(np.random.default_rng(51).dirichlet(np.ones(3), size=7))


def test_sinkhorn_optimal_transport() -> None:
    """Entropic optimal transport between two point clouds: the cost matrix from cdist(p=2)**2, log-domain
    Sinkhorn iterations with logsumexp, the transport plan's marginals, and the gradient of the Sinkhorn cost
    w.r.t. the source points."""

    def program(L):
        x = L.tensor(OT_X, requires_grad=True)
        y = L.tensor(OT_Y)
        C = L.cdist(x, y, p=2) ** 2
        eps = 0.1
        a = L.full((5,), 1 / 5, dtype=L.float64)
        b = L.full((4,), 1 / 4, dtype=L.float64)
        f = L.zeros(5, dtype=L.float64)
        g = L.zeros(4, dtype=L.float64)
        for _ in range(30):
            f = -eps * L.logsumexp((g - C) / eps + b.log(), dim=1)
            g = -eps * L.logsumexp((f.unsqueeze(1) - C) / eps + a.log().unsqueeze(1), dim=0)
        P = L.exp((f.unsqueeze(1) + g - C) / eps) * a.unsqueeze(1) * b
        cost = (P * C).sum()
        cost.backward()
        return [P.detach(), P.sum(1).detach(), P.sum(0).detach(), cost, x.grad]

    _both(program, 1e-9)


OT_X = np.random.default_rng(52).standard_normal((5, 2))
OT_Y = np.random.default_rng(53).standard_normal((4, 2)) + 1.0


def test_constraints_and_biject_to_for_unconstrained_parameters() -> None:
    """Pyro-style unconstrained parametrization: biject_to / transform_to for positive, unit_interval,
    simplex, lower_cholesky, corr_cholesky and interval constraints, their log-det Jacobians, StickBreaking
    and CorrCholesky round trips, LKJCholesky and Dirichlet log_prob of the transformed values, and
    constraint checks."""

    def program(L):
        D = L.distributions
        C = D.constraints
        u = L.tensor([0.3, -1.2, 0.8], dtype=L.float64)
        out = []
        for c in [C.positive, C.unit_interval, C.simplex, C.interval(-2.0, 3.0), C.greater_than(1.0)]:
            t = D.biject_to(c)
            y = t(u)
            out += [y, t.log_abs_det_jacobian(u, y), t.inv(y), bool(c.check(y).all())]
        v = L.tensor([0.1, -0.3, 0.5, 0.2, -0.1, 0.4], dtype=L.float64)
        lc = D.transform_to(C.lower_cholesky)(v.repeat(2)[:9].reshape(3, 3))
        cc = D.biject_to(C.corr_cholesky)
        Lc = cc(v[:3])
        simplex = D.biject_to(C.simplex)(u)
        out += [
            lc,
            Lc,
            cc.inv(Lc),
            cc.log_abs_det_jacobian(v[:3], Lc),
            D.LKJCholesky(3, 2.0).log_prob(Lc),
            D.Dirichlet(L.tensor([1.5, 2.0, 0.5, 1.0], dtype=L.float64)).log_prob(simplex),
            bool(C.corr_cholesky.check(Lc)),
            bool(C.positive_definite.check(Lc @ Lc.T)),
            str(C.interval(0.0, 1.0)),
            str(C.positive),
            C.simplex.event_dim,
            D.transforms.StickBreakingTransform().inv(simplex),
        ]
        return out

    _both(program, 1e-10)


def test_quantum_two_qubit_evolution() -> None:
    """A two-qubit Hamiltonian built with kron from Pauli matrices (complex128), time evolution
    U = matrix_exp(-i H t), unitarity, expectation values <psi|Z|psi> with vdot, eigh of the Hermitian H,
    the fidelity's gradient w.r.t. a real coupling parameter, and the state printed."""

    def program(L):
        c128 = L.complex128
        X = L.tensor([[0, 1], [1, 0]], dtype=c128)
        Z = L.tensor([[1, 0], [0, -1]], dtype=c128)
        I2 = L.eye(2, dtype=c128)
        J = L.tensor(0.7, dtype=L.float64, requires_grad=True)
        H = J * L.kron(Z, Z) + 0.5 * (L.kron(X, I2) + L.kron(I2, X))
        U = L.linalg.matrix_exp(-1j * H * 0.8)
        psi0 = L.zeros(4, dtype=c128)
        psi0[0] = 1
        psi = U @ psi0
        ZI = L.kron(Z, I2)
        expZ = L.vdot(psi, ZI @ psi).real
        target = L.tensor([0.5, 0.5j, 0.5, -0.5j], dtype=c128)
        fid = L.vdot(target, psi).abs() ** 2
        fid.backward()
        w, V = L.linalg.eigh(H.detach())
        return [
            U.detach(),
            (U.conj().T @ U).detach(),
            psi.detach(),
            expZ.detach(),
            fid,
            J.grad,
            w,
            (V.abs() ** 2).sum(0),
            repr(psi0),
            psi.dtype,
            L.linalg.eigvalsh(H.detach()).dtype,
        ]

    _both(program, 1e-10)


def test_gauss_hermite_quadrature_by_golub_welsch() -> None:
    """Gauss-Hermite nodes and weights by the Golub-Welsch algorithm (eigh of the Jacobi matrix built with
    diag(..., offset)), E[f(X)] for X ~ Normal by quadrature with gradients w.r.t. the mean and scale, and
    torch.distributions' moments as the reference."""

    def program(L):
        n = 12
        k = L.arange(1, n, dtype=L.float64)
        J = L.diag(L.sqrt(k / 2), 1) + L.diag(L.sqrt(k / 2), -1)
        nodes, vecs = L.linalg.eigh(J)
        weights = math.sqrt(math.pi) * vecs[0] ** 2
        mu = L.tensor(0.3, dtype=L.float64, requires_grad=True)
        sigma = L.tensor(1.2, dtype=L.float64, requires_grad=True)
        xs = mu + math.sqrt(2) * sigma * nodes
        e_x2 = (weights * xs**2).sum() / math.sqrt(math.pi)
        e_cos = (weights * L.cos(xs)).sum() / math.sqrt(math.pi)
        (e_x2 + e_cos).backward()
        N = L.distributions.Normal(mu.detach(), sigma.detach())
        return [
            nodes,
            weights.sum(),
            e_x2,
            e_cos,
            mu.grad,
            sigma.grad,
            N.variance + N.mean**2,
            L.exp(-(sigma.detach() ** 2) / 2) * L.cos(mu.detach()),
        ]

    _both(program, 1e-10)


def test_assert_close_and_gradcheck_when_verifying_derivatives() -> None:
    """Verifying a hand-derived gradient as scientific code does: torch.testing.assert_close against the autograd
    gradient (passing, and failing with torch's report: mismatch count, greatest absolute/relative differences and
    their indices, the failing item of a nested structure, 0-d tensors and numbers reported as scalars, shape/dtype/
    key/length mismatches), gradcheck/gradgradcheck returning True."""

    def program(L):
        x = L.tensor([0.3, -1.2, 2.0], dtype=L.float64, requires_grad=True)
        (g,) = L.autograd.grad((x.sin() * x).sum(), x)
        by_hand = x.detach().cos() * x.detach() + x.detach().sin()
        L.testing.assert_close(g, by_hand)
        t = L.testing
        one = L.tensor([1.0, 2.0, 3.0])
        return [
            _error(lambda: t.assert_close(one, L.tensor([1.0, 2.5, 3.0]))),
            _error(lambda: t.assert_close({"w": [one, by_hand]}, {"w": [one, by_hand * 1.1]})),
            _error(lambda: t.assert_close(L.tensor([[1, 2], [3, 4]]), L.tensor([[1, 2], [3, 5]]))),
            _error(lambda: t.assert_close(L.tensor(0.0), L.tensor(1e-3))),
            _error(lambda: t.assert_close(1.0, 1.5)),
            _error(lambda: t.assert_close(one, one * 1.01, rtol=0, atol=0)),
            _error(lambda: t.assert_close(L.tensor([0.0, math.nan]), L.tensor([0.0, 1.0]))),
            _error(lambda: t.assert_close([one], [one, one])),
            _error(lambda: t.assert_close({"a": one}, {"b": one})),
            _error(lambda: t.assert_close(one, one * 2, msg="gradient mismatch")),
            _error(lambda: t.assert_close(one, one * 2, msg=lambda m: "custom: " + m.splitlines()[0])),
            _error(lambda: t.assert_close(1, 2)),
            L.autograd.gradcheck(lambda a: (a.sin() * a).sum(), (x,)),
            L.autograd.gradgradcheck(lambda a: (a.sin() * a).sum(), (x,)),
        ]

    _both(program)


def test_strict_functional_jacobians_and_einsum_slips() -> None:
    """autograd.functional's strict=True errors (an output that does not require grad, an output independent of
    an input, a linear function's constant Jacobian in hessian/vhp, a hessian of a non-scalar) and the einsum
    slips of tensor-network code (mismatched subscript sizes, repeated subscripts, operand counts, dtypes),
    with the results of the calls that succeed."""

    def program(L):
        AF = L.autograd.functional
        x = L.tensor([0.5, -1.0], dtype=L.float64)
        a, b = L.ones(2, 3), L.ones(6, 3)
        return [
            _error(lambda: AF.jacobian(lambda u: L.ones(2), x, strict=True)),
            _error(lambda: AF.jacobian(lambda u, v: u * 2, (x, x), strict=True)),
            _error(lambda: AF.vjp(lambda u, v: (u * 2).sum(), (x, x), strict=True)),
            _error(lambda: AF.jvp(lambda u, v: u * 2, (x, x), (x, x), strict=True)),
            _error(lambda: AF.hessian(lambda u: (u * 2).sum(), x, strict=True)),
            _error(lambda: AF.hvp(lambda u, v: (u**2).sum(), (x, x), (x, x), strict=True)),
            _error(lambda: AF.vhp(lambda u: (u * 2).sum(), x, x, strict=True)),
            _error(lambda: AF.hessian(lambda u: u, x)),
            _error(lambda: AF.hessian(lambda u: (u.sum(),), x)),
            AF.jacobian(lambda u, v: u * v.exp(), (x, x), strict=True),
            AF.hessian(lambda u: (u**3).sum(), x, strict=True),
            _error(lambda: L.einsum("ij,jk->ik", a, b)),
            _error(lambda: L.einsum("ij,jk,kl->il", a, b.T, L.ones(2, 4))),
            _error(lambda: L.einsum("ii->i", a)),
            _error(lambda: L.einsum("ij,jk", a)),
            _error(lambda: L.einsum("i->", L.ones(3), L.ones(3))),
            _error(lambda: L.einsum("ij->ik", a)),
            _error(lambda: L.einsum("ij,jk->ik", a, L.ones(3, 2, dtype=L.float64))),
            L.einsum("ij,jk,kl->il", a, L.ones(3, 6), L.ones(1, 4)),
        ]

    _both(program)


def test_float64_data_into_a_float32_model_and_other_dtype_slips() -> None:
    """The most common slip of scientific code: NumPy float64 data (torch.from_numpy) fed to a float32 nn.Linear
    or Conv1d, with and without bias, batched; the fixes users apply (.double() on the model, .float() on the data)
    giving torch's values; mm/bmm/mv/addmm dtype and shape errors; a complex loss backpropagated without a
    gradient."""

    def program(L):
        lin = _load(L, L.nn.Linear(3, 2), 60, dtype=np.float32)
        lin_nb = _load(L, L.nn.Linear(3, 2, bias=False), 61, dtype=np.float32)
        conv = _load(L, L.nn.Conv1d(3, 2, 1), 62, dtype=np.float32)
        data = L.from_numpy(SLIP_X)
        z = L.tensor([1 + 1j], requires_grad=True)
        d = L.float64
        errs = [
            _error(lambda: lin(data)),
            _error(lambda: lin(data.reshape(2, 3, 3))),
            _error(lambda: lin_nb(data)),
            _error(lambda: lin(data.float()[:, :2])),
            _error(lambda: lin(data.float()[0, :2])),
            _error(lambda: L.nn.functional.linear(data.float(), lin.weight, L.zeros(2, dtype=d))),
            _error(lambda: L.nn.functional.linear(data.float(), lin.weight, L.zeros(3))),
            _error(lambda: L.nn.functional.linear(L.tensor(1.0), lin.weight)),
            _error(lambda: conv(data.T.unsqueeze(0))),
            _error(lambda: L.nn.functional.conv1d(data.T.unsqueeze(0).float(), conv.weight, L.zeros(2, dtype=d))),
            _error(lambda: L.mm(L.ones(2, 3), L.ones(3, 2, dtype=d))),
            _error(lambda: L.mm(L.ones(2, 3), L.ones(4, 2))),
            _error(lambda: L.mm(L.ones(2, 3, 1), L.ones(4, 2))),
            _error(lambda: L.bmm(L.ones(1, 2, 3), L.ones(1, 3, 2, dtype=d))),
            _error(lambda: L.bmm(L.ones(1, 2, 3), L.ones(1, 4, 2))),
            _error(lambda: L.mv(L.ones(2, 3), L.ones(3, dtype=d))),
            _error(lambda: L.mv(L.ones(2, 3), L.ones(4))),
            _error(lambda: L.addmm(L.ones(2), L.ones(2, 3), L.ones(3, 2, dtype=d))),
            _error(lambda: L.addmm(L.ones(2), L.ones(2, 3, dtype=d), L.ones(3, 2))),
            _error(lambda: L.ones(3, 4) @ L.ones(3)),
            _error(lambda: L.ones(3) @ L.ones(4)),
            _error(lambda: L.ones(5, 2, 3) @ L.ones(5, 4, 2)),
            _error(lambda: L.ones(3, 4) @ L.ones(4, dtype=d)),
            _error(lambda: (z * 2).sum().backward()),
            _error(lambda: L.autograd.grad(z.sum(), z)),
        ]
        fixed = [lin.double()(data), lin_nb(data.float()), conv.double()(data.T.unsqueeze(0))]
        return errs + fixed

    _both(program)


SLIP_X = np.random.default_rng(63).standard_normal((6, 3))


def test_statistics_of_integer_data() -> None:
    """Count data (integer tensors) in statistics code: true division and sqrt promote to float32, mean/var/norm
    refuse integers with torch's messages (mean(dtype=...) is the fix), integer powers, sums and products keep
    int64, and a negative integer power is refused."""

    def program(L):
        x = L.tensor([1, 2, 3, 7])
        return [
            (x / 2).dtype,
            x // 2,
            L.true_divide(x, 2),
            x.mean(dtype=L.float64),
            x.float().var(),
            L.sqrt(x).dtype,
            L.exp(x).dtype,
            (x**2).dtype,
            (x**-1.0).dtype,
            x.sum().dtype,
            x.prod(),
            L.cumsum(x, 0).dtype,
            _error(lambda: x.mean()),
            _error(lambda: x.mean(0)),
            _error(lambda: x.mean(dtype=L.int32)),
            _error(lambda: x.nanmean()),
            _error(lambda: x.var()),
            _error(lambda: x.std(0)),
            _error(lambda: x.norm()),
            _error(lambda: x.logcumsumexp(0)),
            _error(lambda: x**-1),
        ]

    _both(program)


def test_vmap_over_batch_norm_models() -> None:
    """BatchNorm under vmap as the torch.func ensembling tutorial meets it: stacked buffers (running statistics
    updated per model), track_running_stats=False, replace_all_batch_norm_modules_, eval mode, and torch's error
    when unbatched running statistics would be updated in place."""

    def program(L):
        import copy

        x = L.tensor(BN_X)

        def make(seed, **kw):
            net = L.nn.Sequential(L.nn.Linear(3, 4, dtype=L.float64), L.nn.BatchNorm1d(4, dtype=L.float64, **kw))
            return _load(L, net, seed)

        ms = [make(s) for s in range(2)]
        p, b = L.func.stack_module_state(ms)
        base = copy.deepcopy(ms[0]).to("meta")
        out = L.func.vmap(lambda pp, bb, xx: L.func.functional_call(base, (pp, bb), (xx,)))(p, b, x)
        single = make(3)
        params = {k: v.detach() for k, v in single.named_parameters()}
        bufs = {k: v.detach() for k, v in single.named_buffers()}
        err = _error(lambda: L.func.vmap(lambda xx: L.func.functional_call(single, (params, bufs), (xx,)))(x))
        err2 = _error(lambda: L.func.vmap(single)(x))
        untracked = L.func.vmap(make(4, track_running_stats=False))(x)
        replaced = L.func.vmap(L.func.replace_all_batch_norm_modules_(make(5)))(x)
        evaluated = L.func.vmap(make(6).eval())(x)
        return [out, b["1.running_mean"], b["1.running_var"], err, err2, untracked, replaced, evaluated]

    _both(program, 1e-10)


BN_X = np.random.default_rng(64).standard_normal((2, 3, 3))


def test_gradients_at_zero_distance_in_kernel_code() -> None:
    """Kernel and distance code differentiates through zero distances (a point against itself on the diagonal of
    cdist(x, x), pdist with a repeated point, norms of zero vectors, sqrt/abs/xlogy at 0): torch's subgradient
    conventions, not NaN; log densities under vmap and vmap(grad)."""

    def program(L):
        D = L.distributions
        x = L.tensor(ZERO_X, requires_grad=True)
        grads = []
        for loss in (
            lambda: L.cdist(x, x).pow(2).sum() + L.cdist(x, x).sum(),
            lambda: L.cdist(x, x, p=1).sum(),
            lambda: L.cdist(x, x, p=math.inf).sum(),
            lambda: L.pdist(L.cat([x, x[:1]])).sum(),
            lambda: L.norm(x - x.detach(), dim=1).sum(),
            lambda: L.linalg.vector_norm(x - x.detach()),
            lambda: L.sqrt((x - x.detach()).pow(2).sum(1) + 0.0).sum(),
        ):
            x.grad = None
            loss().backward()
            grads.append(x.grad.clone())
        e = L.tensor([0.0, 0.5], requires_grad=True)
        (L.special.xlogy(e, e).sum() + e.abs().sum()).backward()
        mus, v = L.tensor(ZERO_X[:, 0]), L.tensor(ZERO_X[:, 1])
        return [
            grads,
            e.grad,
            L.func.vmap(lambda m, u: D.Normal(m, 1.0).log_prob(u))(mus, v),
            L.func.vmap(L.func.grad(lambda m, u: D.Normal(m, 2.0).log_prob(u)))(mus, v),
            L.func.vmap(
                lambda m: D.MultivariateNormal(m, L.eye(2, dtype=L.float64)).log_prob(L.zeros(2, dtype=L.float64))
            )(L.tensor(ZERO_X)),
        ]

    _both(program, 1e-10)


ZERO_X = np.random.default_rng(65).standard_normal((4, 2))
