"""Scientific machine-learning programs as torch users write them, run once with torch and once with ``backprop``
standing in for it (the same code, the library passed in), from the same NumPy-made weights: ``optim.LBFGS`` with a
closure (both line searches, ``history_size``, ``tolerance_change``) on a PINN's residual and over complex and
mixed-dtype parameters; the refusals of ``torch.autograd.functional``'s ``jacobian``/``hessian`` with
``vectorize=``, ``strategy=``/``outer_jacobian_strategy=``, ``strict=`` and ``create_graph=``, and ``hessian``'s
forward-over-reverse values; ``autograd.grad(is_grads_batched=True)`` without ``grad_outputs``; ``linalg.lstsq``'s
right-hand-side shapes, gradients and refusals; ``torch.gradient`` finite differences beside autograd and their
refusals.

(FNO spectral convolutions with complex Adam, SIREN, Dormand-Prince, Lagrangian networks, third-order PINNs and
``torch.func`` with ``argnums`` tuples/``chunk_size``/tied ``functional_call`` were compared too and agree: they
are covered by tests/test_programs_2026_2.py and tests/test_programs_gen.py in spirit and not repeated here.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import backprop
import backprop.devices

torch = pytest.importorskip("torch", reason="torch not installed: the programs are compared with it")

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning",  # torch's forward AD (vectorize=True), once
)

SCALAR_WARNING = "Converting a tensor with requires_grad=True to a scalar"
RNG = np.random.default_rng(2026)
PTS = RNG.uniform(-1, 1, (12, 2))


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _same(ours, theirs, rtol: float, path: str = "result") -> None:
    """Nested results compared: sequences item by item, strings and flags exactly, tensors by dtype, shape and
    values."""
    if isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, rtol, f"{path}[{i}]")
    elif isinstance(theirs, (str, bool, type(None))):
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, torch.dtype):
        assert str(ours).replace("torch.", "") == str(theirs).replace("torch.", ""), f"{path}: {ours} != {theirs}"
    elif isinstance(theirs, (int, float)):
        assert type(ours) is type(theirs), (path, type(ours), type(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, err_msg=path)
    else:
        assert str(ours.dtype).replace("torch.", "") == str(theirs.dtype).replace("torch.", ""), path
        a, b = _np(ours), _np(theirs)
        assert a.shape == b.shape, (path, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=path)


def _both(program, rtol: float = 1e-9) -> None:
    """``program(L)`` with L = torch and L = backprop: the same results."""
    _same(program(backprop), program(torch), rtol)


def _error(fn) -> str:
    """``Class: message`` of what ``fn()`` raises ('no error' when it returns)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any class is compared with torch's
        return f"{type(e).__name__}: {e}"
    return "no error"


def _pinn(L):
    """A small tanh MLP in float64, its weights from a NumPy generator (the same for both libraries)."""
    net = L.nn.Sequential(L.nn.Linear(2, 10), L.nn.Tanh(), L.nn.Linear(10, 1)).double()
    rs = np.random.default_rng(7)
    net.load_state_dict({k: L.tensor(rs.standard_normal(tuple(v.shape)) * 0.5) for k, v in net.state_dict().items()})
    return net


def _scalar_warnings(fn) -> list[str]:
    """The scalar-conversion warnings ``fn()`` gives, with torch's once-per-process flag cleared first (so a
    warning given earlier in the session does not hide one)."""
    backprop.devices._scalar_warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if str(w.message).startswith(SCALAR_WARNING)]


# ------------------------------------------------------------------ LBFGS on a PINN residual


@pytest.mark.parametrize(
    "kw",
    [
        {"line_search_fn": None, "lr": 0.5, "history_size": 3, "tolerance_change": 1e-9},
        {"line_search_fn": "strong_wolfe", "lr": 1.0, "history_size": 4, "tolerance_change": 1e-5},
        {"line_search_fn": "strong_wolfe", "lr": 1.0, "history_size": 10, "tolerance_change": 1e-2},
    ],
    ids=["plain", "strong_wolfe", "tolerance_change"],
)
def test_lbfgs_on_a_poisson_pinn(kw) -> None:
    """u_xx + u_yy = sin(pi x) through autograd.grad(create_graph=True) twice, a boundary loss, LBFGS with a
    closure: the closure's loss sequence, step's returns, the final parameters and the evaluation counts as
    torch's, and no scalar-conversion warning (torch's step reads the closure's loss under no_grad)."""

    def program(L):
        net = _pinn(L)
        opt = L.optim.LBFGS(net.parameters(), max_iter=8, **kw)
        bnd = L.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]], dtype=L.float64)
        seen: list[float] = []

        def closure():
            opt.zero_grad()
            xy = L.tensor(PTS, requires_grad=True)
            u = net(xy)
            (du,) = L.autograd.grad(u, xy, L.ones_like(u), create_graph=True)
            uxx = L.autograd.grad(du[:, 0].sum(), xy, create_graph=True)[0][:, 0]
            uyy = L.autograd.grad(du[:, 1].sum(), xy, create_graph=True)[0][:, 1]
            loss = (uxx + uyy - L.sin(L.pi * xy[:, 0])).pow(2).mean() + net(bnd).pow(2).mean()
            loss.backward()
            seen.append(loss.item())
            return loss

        steps = [opt.step(closure) for _ in range(3)]
        state = opt.state[next(net.parameters())]
        return [seen, steps, list(net.parameters()), state["func_evals"], state["n_iter"]]

    _both(program)
    assert _scalar_warnings(lambda: program(backprop)) == []


SPECTRAL_W = (RNG.standard_normal((2, 3)) + 1j * RNG.standard_normal((2, 3))).astype(np.complex64)
SPECTRAL_X = RNG.standard_normal((4, 8)).astype(np.float32)


def test_lbfgs_on_complex_and_mixed_dtype_parameters() -> None:
    """LBFGS over a spectral layer's complex64 weights, a float32 Linear and a float64 scale together (torch
    flattens them in their promoted dtype, complex ones as real pairs; they were refused): the losses, the
    parameters after two steps and the search direction's dtype as torch's."""

    def program(L):
        w = L.nn.Parameter(L.tensor(SPECTRAL_W))
        lin = L.nn.Linear(8, 8)
        rs = np.random.default_rng(3)
        with L.no_grad():
            for p in lin.parameters():
                p.copy_(L.tensor((rs.standard_normal(tuple(p.shape)) * 0.5).astype(np.float32)))
        scale = L.nn.Parameter(L.tensor([0.5], dtype=L.float64))
        x = L.tensor(SPECTRAL_X)
        opt = L.optim.LBFGS([w, *lin.parameters(), scale], max_iter=4, history_size=4, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            z = L.fft.rfft(lin(x))[:, :3]
            z = z * w[0] + z.conj() * w[1]
            loss = (L.fft.irfft(z, n=4) - 1).pow(2).mean() + (scale - 1).pow(2).sum()
            loss.backward()
            return loss

        steps = [opt.step(closure) for _ in range(2)]
        return [steps, w, lin.weight, scale, opt.state_dict()["state"][0]["d"].dtype]

    _both(program, 1e-4)


def test_scalar_warning_only_while_grad_mode_is_on() -> None:
    """float()/complex() of a tensor that requires grad, and torch.tensor([t, ...]) of such items, warn only
    while grad mode is on, as torch's (``requires_grad() && GradMode::is_enabled()``)."""

    def program(L):
        w = L.tensor([1.5, -0.5], dtype=L.float64, requires_grad=True)
        loss = (w**2).sum()
        found = []
        with L.no_grad():
            found.append(_scalar_warnings(lambda: float(loss)))
            found.append(_scalar_warnings(lambda: complex(loss)))
            found.append(_scalar_warnings(lambda: L.tensor([loss, loss])))
        with L.no_grad(), L.enable_grad():
            found.append(len(_scalar_warnings(lambda: float(loss))))
        found.append(len(_scalar_warnings(lambda: L.tensor([loss, loss]))))
        return found

    # (torch's flag cannot be cleared: its answers are written out; ours are checked with the flag cleared)
    assert program(backprop) == [[], [], [], 1, 1]


# ------------------------------------------------------------------ autograd.functional's refusals and strategies


X = RNG.standard_normal((3, 4))


def _cube(a):
    return (a**3).sum()


def _refusals(L):
    AF = L.autograd.functional
    x = L.tensor(X)

    def double(a):
        return a * 2

    return [
        _error(lambda: AF.jacobian(double, x, strategy="forward-mode", vectorize=True, create_graph=True)),
        _error(lambda: AF.jacobian(double, x, strategy="forward-mode", vectorize=True, strict=True)),
        _error(lambda: AF.jacobian(double, x, strategy="forward-mode", strict=True)),
        _error(lambda: AF.jacobian(double, x, strategy="forward-mode")),
        _error(lambda: AF.jacobian(double, x, vectorize=True, strict=True)),
        _error(lambda: AF.jacobian(lambda a: a.detach(), x, vectorize=True, strict=True)),
        _error(lambda: AF.hessian(_cube, x, outer_jacobian_strategy="fwd")),
        _error(lambda: AF.hessian(_cube, x, outer_jacobian_strategy="forward-mode")),
        _error(lambda: AF.hessian(_cube, x, outer_jacobian_strategy="forward-mode", vectorize=True, create_graph=True)),
        _error(lambda: AF.hessian(_cube, x, vectorize=True, strict=True)),
        _error(lambda: AF.hessian(lambda a: a.sum(), x, vectorize=True, strict=True)),
    ]


def test_functional_jacobian_and_hessian_strategies_as_torch() -> None:
    """jacobian: forward-mode with create_graph or strict, strict with vectorize; hessian: an unknown
    outer_jacobian_strategy, forward-mode without vectorize (it was accepted), its strict/vectorize refusal
    (vectorize was dropped on the way to jacobian): torch's classes and texts, in torch's order. Then
    hessian(vectorize=True, outer_jacobian_strategy='forward-mode') of a network's energy and of a two-input
    function, and jacobian(strategy='forward-mode') of tuple outputs: torch's values."""

    def program(L):
        AF = L.autograd.functional
        net = _pinn(L)
        x = L.tensor(X[:, :2])

        def energy(a):
            return net(a).pow(2).sum()

        def pair(a, b):
            return (a * b).sin().sum()

        return [
            _refusals(L),
            AF.hessian(energy, x[0], vectorize=True, outer_jacobian_strategy="forward-mode"),
            AF.hessian(pair, (x[0], x[1]), vectorize=True, outer_jacobian_strategy="forward-mode"),
            AF.jacobian(lambda a, b: (a * b, b.exp()), (x[0], x[1]), vectorize=True, strategy="forward-mode"),
        ]

    assert "no error" not in _refusals(torch)
    _both(program)


def test_is_grads_batched_without_grad_outputs_as_torch() -> None:
    """autograd.grad(..., is_grads_batched=True) with no grad_outputs (a PINN author forgetting the batch of
    unit vectors): torch's errors (a TypeError before), for a scalar, a vector and a one-element output."""

    def program(L):
        x = L.tensor(X, requires_grad=True)
        u = (x * 2).sum()
        return [
            _error(lambda: L.autograd.grad(u, x, is_grads_batched=True)),
            _error(lambda: L.autograd.grad(x * 2, x, is_grads_batched=True)),
            _error(lambda: L.autograd.grad(u.reshape(1), x, is_grads_batched=True)),
            _error(lambda: L.autograd.grad([u, x.sum()], x, [L.ones(3), None], is_grads_batched=True)),
        ]

    _both(program)


# ------------------------------------------------------------------ torch.linalg.lstsq in a fitting loop


LSTSQ_CASES = [
    ((5, 3), (5,)),  # a vector right-hand side
    ((2, 3, 2), (2, 3)),  # a batch of vectors (B is A's shape less its last dim)
    ((2, 3, 2), (1, 3, 1)),  # batch dims broadcast
    ((3, 2), (4,)),  # rows that do not match a vector
    ((3, 2), (4, 1)),  # rows that do not match a matrix
    ((2, 3, 2), (1, 3)),  # one dim fewer than A but not its shape: a matrix, whose rows do not match
    ((2, 3, 2), (3, 3)),  # taken as a batch of 3 vectors: batch dims that do not broadcast
    ((2, 3, 2), (3,)),  # two dims fewer
    ((3, 2), (2, 2, 3, 1)),  # more dims than A (it broadcast A before)
    ((3,), (3,)),
    ((3, 2), ()),
]


def test_lstsq_shapes_and_refusals_as_torch() -> None:
    """A least-squares fit (linalg.lstsq with gelsd) and its gradient for the right-hand sides torch takes, and
    torch's own messages for the ones it refuses (matmul's and broadcasting's texts before, or a result)."""

    def program(L):
        rs = np.random.default_rng(3)
        found = []
        for a_shape, b_shape in LSTSQ_CASES:
            a = L.tensor(rs.standard_normal(a_shape), requires_grad=True)
            b = L.tensor(rs.standard_normal(b_shape))
            try:
                fit = L.linalg.lstsq(a, b, driver="gelsd")
            except RuntimeError as e:
                found.append(str(e))
                continue
            fit.solution.pow(2).sum().backward()
            found.append([fit.solution, fit.residuals, fit.rank, fit.singular_values, a.grad])
        return found

    _both(program)


def test_lstsq_argument_refusals_as_torch() -> None:
    """An unknown driver, mixed dtypes, integer matrices: torch's RuntimeError texts (the driver was ignored)."""

    def program(L):
        ones = L.ones
        calls = [
            lambda: L.linalg.lstsq(ones(3, 2), ones(3, 1), driver="lapack"),
            lambda: L.linalg.lstsq(ones(3, 2), ones(3, 1, dtype=L.float64)),
            lambda: L.linalg.lstsq(ones(3, 2, dtype=L.int64), ones(3, 1, dtype=L.int64)),
            lambda: L.linalg.lstsq(ones(3, 2, dtype=L.int64), ones(3, 1, dtype=L.int64), driver="x"),
        ]
        found = []
        for call in calls:
            with pytest.raises(RuntimeError) as info:
                call()
            found.append(str(info.value))
        return found

    assert program(backprop) == program(torch)


# ------------------------------------------------------------------ finite differences beside autograd


GRID_X = np.cumsum(RNG.uniform(0.1, 0.3, 7))
GRID_T = np.linspace(0.0, 1.0, 5)
GRADIENT_CALLS = [
    {"spacing": [1.0, 2.0, 3.0]},  # spacing longer than the rank
    {"spacing": [1.0, 2.0], "dim": 1},  # longer than dim
    {"spacing": [1.0, 2.0, 3.0], "dim": (7,)},  # (spacing's check comes before dim's)
    {"edge_order": 3},
    {"edge_order": 0, "spacing": [1.0, 2.0, 3.0]},
    {"dim": (0, 0)},
    {"dim": (0, -2)},
    {"dim": 2},
    {"spacing": (np.arange(9.0),), "dim": 1},  # coordinates that do not fit the dim
]


def test_finite_differences_beside_autograd_as_torch() -> None:
    """A network's u(t, x) on a non-uniform grid: torch.gradient with coordinate spacings (edge_order 1 and 2)
    next to autograd's u_x, and torch.gradient's refusals of slips in spacing/dim/edge_order with torch's texts
    (they were ours: 'got 3', 'got a size 1 along dim 0', ...)."""

    def program(L):
        net = _pinn(L)
        t, x = L.tensor(GRID_T), L.tensor(GRID_X)
        tt, xx = L.meshgrid(t, x, indexing="ij")
        pts = L.stack([tt, xx], dim=-1).reshape(-1, 2).requires_grad_()
        u = net(pts).reshape(5, 7)
        (du,) = L.autograd.grad(u.sum(), pts)
        fd = [L.gradient(u.detach(), spacing=(t, x), edge_order=k) for k in (1, 2)]
        found = [du[:, 1].reshape(5, 7), fd, L.gradient(u.detach(), spacing=0.5, dim=1)]
        for kw in GRADIENT_CALLS:
            if "spacing" in kw and isinstance(kw["spacing"], tuple):
                kw = {**kw, "spacing": tuple(L.tensor(s) for s in kw["spacing"])}
            try:
                L.gradient(u.detach(), **kw)
            except (RuntimeError, IndexError) as e:
                found.append(f"{'IndexError' if isinstance(e, IndexError) else 'RuntimeError'}: {e}")
        found.append(_error(lambda: L.gradient(L.ones(1, 6))))
        found.append(_error(lambda: L.gradient(L.ones(2, 6), dim=0, edge_order=2)))
        found.append(_error(lambda: L.gradient(L.ones(()), dim=0)).split(": ", 1)[1])
        found.append(_error(lambda: L.gradient(L.ones(3, dtype=L.uint8))).split(": ", 1)[1])
        return found

    ours, theirs = program(backprop), program(torch)
    assert len(ours) == len(theirs) == 3 + len(GRADIENT_CALLS) + 4
    _same(ours, theirs, 1e-9)
