"""The official PyTorch intermediate and advanced tutorials run with ``backprop`` standing in for ``torch``.

Each tutorial that needs no download (the ``torch.func`` ones: per-sample gradients, model ensembling,
jacobians and hessians, neural tangent kernels; forward-mode AD; custom ``autograd.Function`` double
backward and the conv-bn fusion; NLP from scratch: the char-RNN classifier and generator and the
seq2seq translator with attention; spatial transformer networks; FGSM adversarial examples; the
``scaled_dot_product_attention`` tutorial's CPU parts; parametrizations) is written once as a
function of the library module, at tiny sizes, with synthetic data of the original's shapes in place
of its datasets. Torch's run goes first; backprop's starts from torch's initial weights, and every
loss, gradient, output and final parameter is compared. Without torch, backprop's half still runs.
"""

# The tutorials keep their originals' spelling.
# ruff: noqa: N801, N802, N803, N806, N812, UP008, UP004, UP031, UP032, E731, E741, B006, B007, B008, B011

from __future__ import annotations

import copy
import math
from functools import partial
from importlib import import_module

import numpy as np
import pytest

import backprop

try:
    import torch as real_torch
except ImportError:  # pragma: no cover - the comparisons skip
    real_torch = None


# ------------------------------------------------------------------ harness


def _np(x):
    return np.asarray(x.detach().cpu().numpy()).copy() if hasattr(x, "detach") else np.asarray(x)


def _state(model) -> dict:
    return {k: _np(v) for k, v in model.state_dict().items()}


def _start(torch, model, init, key):
    """Load torch's initial weights into backprop's model (``init[key]``); record them on torch's run."""
    if init is not None and key in init:
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init[key].items()})
    return _state(model)


def _data(seed, *shape, low=None, high=None):
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.integers(low, high, size=shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32)


def _func(torch):
    return import_module(torch.__name__ + ".func")


def _plain(v):
    if type(v).__name__ == "Size":
        return tuple(v)
    if hasattr(v, "detach"):
        return _np(v)
    if type(v).__name__ == "dtype" or isinstance(v, np.dtype):
        return str(v).replace("torch.", "")
    if isinstance(v, str):
        return v.replace("torch.", "")
    return v


def _diffs(a, b, rtol, path=""):
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return [f"{path}: keys {sorted(map(str, a))} vs {b if not isinstance(b, dict) else sorted(map(str, b))}"]
        return [d for k in a for d in _diffs(a[k], b[k], rtol, f"{path}/{k}")]
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
            return [f"{path}: {a.dtype}{a.shape} vs {getattr(b, 'dtype', type(b))}{getattr(b, 'shape', '')}"]
        fa, fb = a.astype(np.float64), b.astype(np.float64)
        if a.size and not np.allclose(fb, fa, rtol=rtol, atol=rtol, equal_nan=True):
            return [f"{path}: max abs difference {np.nanmax(np.abs(fa - fb))}"]
        return []
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return [f"{path}: {a!r} vs {b!r}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diffs(x, y, rtol, f"{path}[{i}]")]
    if isinstance(a, float):
        if not isinstance(b, float) or not math.isclose(a, b, rel_tol=rtol, abs_tol=rtol):
            return [f"{path}: {a!r} vs {b!r}"]
        return []
    if a != b or type(a) is not type(b):
        return [f"{path}: {a!r} vs {b!r}"]
    return []


def _run_pair(program, rtol=1e-5, **kw):
    """Torch's run, then backprop's from torch's initial weights; without torch, backprop's alone."""
    if real_torch is None:
        ours, _ = program(backprop, **kw)
        pytest.skip("torch not installed: the run is compared with torch's")
    real_torch.manual_seed(0)
    theirs, init = program(real_torch, **kw)
    backprop.manual_seed(0)
    ours, _ = program(backprop, init=init, **kw)
    diffs = _diffs(theirs, ours, rtol)
    assert not diffs, "backprop differs from torch:\n" + "\n".join(diffs)
    return theirs, ours


# ------------------------------------------------------------------ per_sample_grads.py


def per_sample_grads(torch, init=None):
    nn, F = torch.nn, torch.nn.functional
    out = {}

    class SimpleCNN(nn.Module):
        def __init__(self):
            super(SimpleCNN, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 6, 3, 1)
            self.fc1 = nn.Linear(24, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    def loss_fn(predictions, targets):
        return F.nll_loss(predictions, targets)

    batch_size = 6
    data = torch.from_numpy(_data(1, batch_size, 1, 8, 8))
    targets = torch.from_numpy(_data(2, batch_size, low=0, high=10))
    model = SimpleCNN()
    start = {"model": _start(torch, model, init, "model")}
    predictions = model(data)
    loss = loss_fn(predictions, targets)
    loss.backward()
    out["loss"] = loss.item()
    out["grads"] = [p.grad for p in model.parameters()]

    def compute_grad(sample, target):
        sample = sample.unsqueeze(0)  # prepend batch dimension for processing
        target = target.unsqueeze(0)
        prediction = model(sample)
        loss = loss_fn(prediction, target)
        return torch.autograd.grad(loss, list(model.parameters()))

    def compute_sample_grads(data, targets):
        """manually process each sample with per sample gradient"""
        sample_grads = [compute_grad(data[i], targets[i]) for i in range(batch_size)]
        sample_grads = zip(*sample_grads)
        sample_grads = [torch.stack(shards) for shards in sample_grads]
        return sample_grads

    per_sample_grads = compute_sample_grads(data, targets)
    out["shape"] = per_sample_grads[0].shape

    functional_call, vmap, grad = _func(torch).functional_call, _func(torch).vmap, _func(torch).grad
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        loss = loss_fn(predictions, targets)
        return loss

    ft_compute_grad = grad(compute_loss)
    ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
    ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)
    out["keys"] = list(ft_per_sample_grads)
    for per_sample_grad, ft_per_sample_grad in zip(per_sample_grads, ft_per_sample_grads.values()):
        assert torch.allclose(per_sample_grad, ft_per_sample_grad, atol=3e-3, rtol=1e-5)
    out["per_sample"] = per_sample_grads
    out["ft_per_sample"] = ft_per_sample_grads
    # the mean of the per-sample gradients is the batch's gradient
    out["mean"] = [g.mean(0) for g in ft_per_sample_grads.values()]
    return out, start


# ------------------------------------------------------------------ ensembling.py


def ensembling(torch, init=None):
    nn, F = torch.nn, torch.nn.functional
    func = _func(torch)

    class SimpleMLP(nn.Module):
        def __init__(self):
            super(SimpleMLP, self).__init__()
            self.fc1 = nn.Linear(36, 16)
            self.fc2 = nn.Linear(16, 16)
            self.fc3 = nn.Linear(16, 10)

        def forward(self, x):
            x = x.flatten(1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.fc2(x)
            x = F.relu(x)
            x = self.fc3(x)
            return x

    device = "cpu"
    num_models = 4
    data = torch.from_numpy(_data(3, 6, 5, 1, 6, 6)).to(device)
    models = [SimpleMLP().to(device) for _ in range(num_models)]
    start = {f"m{i}": _start(torch, m, init, f"m{i}") for i, m in enumerate(models)}
    minibatches = data[:num_models]
    predictions_diff_minibatch_loop = [model(minibatch) for model, minibatch in zip(models, minibatches)]
    minibatch = data[0]
    predictions2 = [model(minibatch) for model in models]

    stack_module_state, functional_call = func.stack_module_state, func.functional_call
    params, buffers = stack_module_state(models)
    base_model = copy.deepcopy(models[0])
    base_model = base_model.to("meta")
    assert all(p.is_meta for p in base_model.parameters())

    def fmodel(params, buffers, x):
        return functional_call(base_model, (params, buffers), (x,))

    out = {"sizes": [p.size(0) for p in params.values()], "keys": list(params), "buffers": list(buffers)}
    assert minibatches.shape == (num_models, 5, 1, 6, 6)
    vmap = torch.vmap
    predictions1_vmap = vmap(fmodel)(params, buffers, minibatches)
    assert torch.allclose(predictions1_vmap, torch.stack(predictions_diff_minibatch_loop), atol=1e-3, rtol=1e-5)
    predictions2_vmap = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
    assert torch.allclose(predictions2_vmap, torch.stack(predictions2), atol=1e-3, rtol=1e-5)
    out["p1"], out["p2"] = predictions1_vmap, predictions2_vmap
    out["stacked_requires_grad"] = [p.requires_grad for p in params.values()]
    return out, start


# ------------------------------------------------------------------ jacobians_hessians.py


def jacobians_hessians(torch, init=None):
    F = torch.nn.functional
    func = _func(torch)
    out = {}

    def predict(weight, bias, x):
        return F.linear(x, weight, bias).tanh()

    D = 6
    weight = torch.from_numpy(_data(4, D, D))
    bias = torch.from_numpy(_data(5, D))
    x = torch.from_numpy(_data(6, D))

    def compute_jac(xp):
        jacobian_rows = [torch.autograd.grad(predict(weight, bias, xp), xp, vec)[0] for vec in unit_vectors]
        return torch.stack(jacobian_rows)

    xp = x.clone().requires_grad_()
    unit_vectors = torch.eye(D)
    jacobian = compute_jac(xp)
    out["jacobian"] = jacobian
    vmap, vjp = func.vmap, func.vjp
    _, vjp_fn = vjp(partial(predict, weight, bias), x)
    (ft_jacobian,) = vmap(vjp_fn)(unit_vectors)
    assert torch.allclose(ft_jacobian, jacobian)
    jacrev = func.jacrev
    ft_jacobian = jacrev(predict, argnums=2)(weight, bias, x)
    assert torch.allclose(ft_jacobian, jacobian)
    ft_jac_weight, ft_jac_bias = jacrev(predict, argnums=(0, 1))(weight, bias, x)
    out["jac_weight"], out["jac_bias"] = ft_jac_weight, ft_jac_bias

    jacfwd = func.jacfwd
    Din, Dout = 3, 7
    weight = torch.from_numpy(_data(7, Dout, Din))
    bias = torch.from_numpy(_data(8, Dout))
    x = torch.from_numpy(_data(9, Din))
    out["fwd"] = jacfwd(predict, argnums=2)(weight, bias, x)
    out["rev"] = jacrev(predict, argnums=2)(weight, bias, x)

    hessian = func.hessian
    Din, Dout = 5, 3
    weight = torch.from_numpy(_data(10, Dout, Din))
    bias = torch.from_numpy(_data(11, Dout))
    x = torch.from_numpy(_data(12, Din))
    hess_api = hessian(predict, argnums=2)(weight, bias, x)
    hess_fwdfwd = jacfwd(jacfwd(predict, argnums=2), argnums=2)(weight, bias, x)
    hess_revrev = jacrev(jacrev(predict, argnums=2), argnums=2)(weight, bias, x)
    out["hess"] = (hess_api, hess_fwdfwd, hess_revrev)
    out["hess_close"] = torch.allclose(hess_api, hess_fwdfwd)

    batch_size, Din, Dout = 4, 3, 5
    weight = torch.from_numpy(_data(13, Dout, Din))
    bias = torch.from_numpy(_data(14, Dout))
    x = torch.from_numpy(_data(15, batch_size, Din))
    compute_batch_jacobian = vmap(jacrev(predict, argnums=2), in_dims=(None, None, 0))
    batch_jacobian0 = compute_batch_jacobian(weight, bias, x)

    def predict_with_output_summed(weight, bias, x):
        return predict(weight, bias, x).sum(0)

    batch_jacobian1 = jacrev(predict_with_output_summed, argnums=2)(weight, bias, x).movedim(1, 0)
    assert torch.allclose(batch_jacobian0, batch_jacobian1)
    compute_batch_hessian = vmap(hessian(predict, argnums=2), in_dims=(None, None, 0))
    batch_hess = compute_batch_hessian(weight, bias, x)
    out["batch"] = (batch_jacobian0, batch_hess, batch_hess.shape)

    jvp, grad = func.jvp, func.grad

    def hvp(f, primals, tangents):
        return jvp(grad(f), primals, tangents)[1]

    def f(x):
        return x.sin().sum()

    x = torch.from_numpy(_data(16, 20))
    tangent = torch.from_numpy(_data(17, 20))
    result = hvp(f, (x,), (tangent,))

    def hvp_revrev(f, primals, tangents):
        _, vjp_fn = vjp(grad(f), *primals)
        return vjp_fn(*tangents)

    result_hvp_revrev = hvp_revrev(f, (x,), (tangent,))
    assert torch.allclose(result, result_hvp_revrev[0])
    out["hvp"] = result
    return out, {}


# ------------------------------------------------------------------ neural_tangent_kernels.py


def neural_tangent_kernels(torch, init=None):
    nn = torch.nn
    func = _func(torch)
    functional_call, vmap, vjp, jvp, jacrev = func.functional_call, func.vmap, func.vjp, func.jvp, func.jacrev
    device = "cpu"

    class CNN(nn.Module):
        def __init__(self):
            super(CNN, self).__init__()
            self.conv1 = nn.Conv2d(3, 4, (3, 3))
            self.conv2 = nn.Conv2d(4, 4, (3, 3))
            self.conv3 = nn.Conv2d(4, 4, (3, 3))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = x.relu()
            x = self.conv2(x)
            x = x.relu()
            x = self.conv3(x)
            x = x.flatten(1)
            x = self.fc(x)
            return x

    x_train = torch.from_numpy(_data(18, 4, 3, 8, 8)).to(device)
    x_test = torch.from_numpy(_data(19, 3, 3, 8, 8)).to(device)
    net = CNN().to(device)
    start = {"net": _start(torch, net, init, "net")}
    params = {k: v.detach() for k, v in net.named_parameters()}

    def fnet_single(params, x):
        return functional_call(net, params, (x.unsqueeze(0),)).squeeze(0)

    def empirical_ntk_jacobian_contraction(fnet_single, params, x1, x2, compute="full"):
        jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
        jac1 = jac1.values()
        jac1 = [j.flatten(2) for j in jac1]
        jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
        jac2 = jac2.values()
        jac2 = [j.flatten(2) for j in jac2]
        einsum_expr = None
        if compute == "full":
            einsum_expr = "Naf,Mbf->NMab"
        elif compute == "trace":
            einsum_expr = "Naf,Maf->NM"
        elif compute == "diagonal":
            einsum_expr = "Naf,Maf->NMa"
        else:
            assert False
        result = torch.stack([torch.einsum(einsum_expr, j1, j2) for j1, j2 in zip(jac1, jac2)])
        result = result.sum(0)
        return result

    out = {}
    out["full"] = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test)
    out["trace"] = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test, "trace")
    out["diagonal"] = empirical_ntk_jacobian_contraction(fnet_single, params, x_train, x_test, "diagonal")

    def empirical_ntk_ntk_vps(func, params, x1, x2, compute="full"):
        def get_ntk(x1, x2):
            def func_x1(params):
                return func(params, x1)

            def func_x2(params):
                return func(params, x2)

            output, vjp_fn = vjp(func_x1, params)

            def get_ntk_slice(vec):
                vjps = vjp_fn(vec)
                _, jvps = jvp(func_x2, (params,), vjps)
                return jvps

            basis = torch.eye(output.numel(), dtype=output.dtype, device=output.device).view(output.numel(), -1)
            return vmap(get_ntk_slice)(basis)

        result = vmap(vmap(get_ntk, (None, 0)), (0, None))(x1, x2)
        if compute == "full":
            return result
        if compute == "trace":
            return torch.einsum("NMKK->NM", result)
        if compute == "diagonal":
            return torch.einsum("NMKK->NMK", result)

    result_from_jacobian_contraction = empirical_ntk_jacobian_contraction(fnet_single, params, x_test, x_train)
    result_from_ntk_vps = empirical_ntk_ntk_vps(fnet_single, params, x_test, x_train)
    assert torch.allclose(result_from_jacobian_contraction, result_from_ntk_vps, atol=1e-5)
    out["vps"] = result_from_ntk_vps
    out["vps_trace"] = empirical_ntk_ntk_vps(fnet_single, params, x_test, x_train, "trace")
    return out, start


# ------------------------------------------------------------------ forward_ad_usage.py


def forward_ad_usage(torch, init=None):
    fwAD = import_module(torch.__name__ + ".autograd.forward_ad")
    nn = torch.nn
    out = {}
    primal = torch.from_numpy(_data(20, 5, 5))
    tangent = torch.from_numpy(_data(21, 5, 5))

    def fn(x, y):
        return x**2 + y**2

    with fwAD.dual_level():
        dual_input = fwAD.make_dual(primal, tangent)
        assert fwAD.unpack_dual(dual_input).tangent is tangent
        dual_input_alt = fwAD.make_dual(primal, tangent.T)
        assert fwAD.unpack_dual(dual_input_alt).tangent is not tangent
        plain_tensor = torch.from_numpy(_data(22, 5, 5))
        dual_output = fn(dual_input, plain_tensor)
        jvp = fwAD.unpack_dual(dual_output).tangent
        out["alt"] = fwAD.unpack_dual(fn(dual_input_alt, plain_tensor)).tangent
    assert fwAD.unpack_dual(dual_output).tangent is None
    out["jvp"] = jvp

    model = nn.Linear(5, 5)
    start = {"model": _start(torch, model, init, "model")}
    input = torch.from_numpy(_data(23, 4, 5))
    params = {name: p for name, p in model.named_parameters()}
    tangents = {name: torch.from_numpy(_data(24 + i, *p.shape)) for i, (name, p) in enumerate(params.items())}
    with fwAD.dual_level():
        for name, p in params.items():
            delattr(model, name)
            setattr(model, name, fwAD.make_dual(p, tangents[name]))
        out_ = model(input)
        jvp = fwAD.unpack_dual(out_).tangent
    out["module_jvp"] = jvp

    functional_call = _func(torch).functional_call
    model = nn.Linear(5, 5)
    dual_params = {}
    with fwAD.dual_level():
        for name, p in params.items():
            dual_params[name] = fwAD.make_dual(p, tangents[name])
        out_ = functional_call(model, dual_params, input)
        jvp2 = fwAD.unpack_dual(out_).tangent
    assert torch.allclose(jvp, jvp2)

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, foo):
            result = torch.exp(foo)
            ctx.result = result
            return result

        @staticmethod
        def jvp(ctx, gI):
            gO = gI * ctx.result
            del ctx.result
            return gO

    fn = Fn.apply
    primal = torch.from_numpy(_data(26, 4, 4).astype(np.float64)).requires_grad_(True)
    tangent = torch.from_numpy(_data(27, 4, 4))
    with fwAD.dual_level():
        dual_input = fwAD.make_dual(primal, tangent)
        dual_output = fn(dual_input)
        jvp = fwAD.unpack_dual(dual_output).tangent
    out["fn_jvp"] = (jvp, jvp.dtype)
    out["gradcheck"] = torch.autograd.gradcheck(
        Fn.apply,
        (primal,),
        check_forward_ad=True,
        check_backward_ad=False,
        check_undefined_grad=False,
        check_batched_grad=False,
    )

    ft = _func(torch)
    primal0, tangent0, primal1, tangent1 = (torch.from_numpy(_data(28 + i, 4, 4)) for i in range(4))

    def fn(x, y):
        return x**2 + y**2

    out["ft_jvp"] = ft.jvp(fn, (primal0, primal1), (tangent0, tangent1))
    y = torch.from_numpy(_data(32, 4, 4))
    new_fn = partial(fn, y=y)
    out["partial_jvp"] = ft.jvp(new_fn, (primal0,), (tangent0,))

    model = nn.Linear(5, 5)
    start["model2"] = _start(torch, model, init, "model2")
    tangents = {name: torch.from_numpy(_data(33 + i, *p.shape)) for i, (name, p) in enumerate(model.named_parameters())}
    params = {name: p.detach() for name, p in model.named_parameters()}

    def func_params_only(params):
        return functional_call(model, params, input)

    out["model_jvp"] = ft.jvp(func_params_only, (params,), (tangents,))
    return out, start


# ------------------------------------------------------------------ custom_function_double_backward_tutorial.py


def double_backward(torch, init=None):
    out = {}

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            # Because we are saving one of the inputs use `save_for_backward`
            # Save non-tensors and non-inputs/non-outputs directly on ctx
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, grad_out):
            # A function support double backward automatically if autograd
            # is able to record the computations performed in backward
            (x,) = ctx.saved_tensors
            return grad_out * 2 * x

    x = torch.from_numpy(np.random.default_rng(40).random((3, 3))).requires_grad_(True)
    out["square"] = (torch.autograd.gradcheck(Square.apply, x), torch.autograd.gradgradcheck(Square.apply, x))

    class Exp(torch.autograd.Function):
        # Simple case where everything goes well
        @staticmethod
        def forward(ctx, x):
            # This time we save the output
            result = torch.exp(x)
            # Note that we should use `save_for_backward` here when
            # the tensor saved is an ouptut (or an input).
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_out):
            (result,) = ctx.saved_tensors
            return result * grad_out

    x = torch.tensor(1.0, requires_grad=True, dtype=torch.double).clone()
    out["exp"] = (torch.autograd.gradcheck(Exp.apply, x), torch.autograd.gradgradcheck(Exp.apply, x))

    class Sinh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            expx = torch.exp(x)
            expnegx = torch.exp(-x)
            ctx.save_for_backward(expx, expnegx)
            # In order to be able to save the intermediate results, a trick is to
            # include them as our outputs, so that the backward graph is constructed
            return (expx - expnegx) / 2, expx, expnegx

        @staticmethod
        def backward(ctx, grad_out, _grad_out_exp, _grad_out_negexp):
            expx, expnegx = ctx.saved_tensors
            grad_input = grad_out * (expx + expnegx) / 2
            # We cannot skip accumulating these even though we won't use the outputs
            # directly. They will be used later in the second backward.
            grad_input += _grad_out_exp * expx
            grad_input -= _grad_out_negexp * expnegx
            return grad_input

    def sinh(x):
        # Create a wrapper that only returns the first output
        return Sinh.apply(x)[0]

    x = torch.from_numpy(np.random.default_rng(41).random((3, 3))).requires_grad_(True)
    out["sinh"] = (torch.autograd.gradcheck(sinh, x), torch.autograd.gradgradcheck(sinh, x))
    out_ = sinh(x)
    (grad_x,) = torch.autograd.grad(out_.sum(), x, create_graph=True)
    out["sinh_grad"] = grad_x
    out["sinh_gradgrad"] = torch.autograd.grad(grad_x.sum(), x)[0]

    class SinhBad(torch.autograd.Function):
        # This is an example of what NOT to do!
        @staticmethod
        def forward(ctx, x):
            expx = torch.exp(x)
            expnegx = torch.exp(-x)
            ctx.expx = expx
            ctx.expnegx = expnegx
            return (expx - expnegx) / 2

        @staticmethod
        def backward(ctx, grad_out):
            expx = ctx.expx
            expnegx = ctx.expnegx
            grad_input = grad_out * (expx + expnegx) / 2
            return grad_input

    out_ = SinhBad.apply(x)
    (grad_x,) = torch.autograd.grad(out_.sum(), x, create_graph=True)
    out["bad_grad"] = (grad_x, grad_x.requires_grad)  # the second backward does not reach x

    def cube_forward(x):
        return x**3

    def cube_backward(grad_out, x):
        return grad_out * 3 * x**2

    def cube_backward_backward(grad_out, sav_grad_out, x):
        return grad_out * sav_grad_out * 6 * x

    def cube_backward_backward_grad_out(grad_out, x):
        return grad_out * 3 * x**2

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return cube_forward(x)

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return CubeBackward.apply(grad_out, x)

    class CubeBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, grad_out, x):
            ctx.save_for_backward(x, grad_out)
            return cube_backward(grad_out, x)

        @staticmethod
        def backward(ctx, grad_out):
            x, sav_grad_out = ctx.saved_tensors
            dx = cube_backward_backward(grad_out, sav_grad_out, x)
            dgrad_out = cube_backward_backward_grad_out(grad_out, x)
            return dgrad_out, dx

    x = torch.tensor(2.0, requires_grad=True, dtype=torch.double)
    out["cube"] = (torch.autograd.gradcheck(Cube.apply, x), torch.autograd.gradgradcheck(Cube.apply, x))
    (g,) = torch.autograd.grad(Cube.apply(x), x, create_graph=True)
    out["cube_grads"] = (g, torch.autograd.grad(g, x)[0])
    return out, {}


# ------------------------------------------------------------------ custom_function_conv_bn_tutorial.py


def conv_bn_fusion(torch, init=None, fused=True):
    F, nn = torch.nn.functional, torch.nn
    once_differentiable = import_module(torch.__name__ + ".autograd.function").once_differentiable
    out = {}

    def convolution_backward(grad_out, X, weight):
        grad_input = F.conv2d(X.transpose(0, 1), grad_out.transpose(0, 1)).transpose(0, 1)
        grad_X = F.conv_transpose2d(grad_out, weight)
        return grad_X, grad_input

    class Conv2D(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, weight):
            ctx.save_for_backward(X, weight)
            return F.conv2d(X, weight)

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_out):
            X, weight = ctx.saved_tensors
            return convolution_backward(grad_out, X, weight)

    rng = np.random.default_rng(42)
    weight = torch.from_numpy(rng.random((5, 3, 3, 3))).requires_grad_(True)
    X = torch.from_numpy(rng.random((2, 3, 5, 5))).requires_grad_(True)
    out["conv_gradcheck"] = torch.autograd.gradcheck(Conv2D.apply, (X, weight))

    def unsqueeze_all(t):
        return t[None, :, None, None]

    def batch_norm_backward(grad_out, X, sum, sqrt_var, N, eps):
        tmp = -((X - unsqueeze_all(sum) / N) * grad_out).sum(dim=(0, 2, 3))
        d_denom = tmp / (sqrt_var + eps) ** 2  # d_denom = -num / denom**2
        d_var = d_denom / (2 * sqrt_var)  # denom = torch.sqrt(var) + eps
        d_mean_dx = grad_out / unsqueeze_all(sqrt_var + eps)
        d_mean_dx = unsqueeze_all(-d_mean_dx.sum(dim=(0, 2, 3)) / N)
        grad_input = X * unsqueeze_all(d_var * N)
        grad_input += unsqueeze_all(-d_var * sum)
        grad_input *= 2 / ((N - 1) * N)
        grad_input += d_mean_dx
        grad_input *= unsqueeze_all(sqrt_var + eps)
        grad_input += grad_out
        grad_input /= unsqueeze_all(sqrt_var + eps)  # sqrt_var + eps > 0!
        return grad_input

    class BatchNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, eps=1e-3):
            sum = X.sum(dim=(0, 2, 3))
            var = X.var(unbiased=True, dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            sqrt_var = torch.sqrt(var)
            ctx.save_for_backward(X)
            ctx.eps = eps
            ctx.sum = sum
            ctx.N = N
            ctx.sqrt_var = sqrt_var
            mean = sum / N
            denom = sqrt_var + eps
            return (X - unsqueeze_all(mean)) / unsqueeze_all(denom)

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_out):
            (X,) = ctx.saved_tensors
            return batch_norm_backward(grad_out, X, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps)

    a = torch.from_numpy(rng.random((1, 2, 3, 4))).requires_grad_(True)
    out["bn_gradcheck"] = torch.autograd.gradcheck(BatchNorm.apply, (a,), fast_mode=False)

    class FusedConvBN2DFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, conv_weight, eps=1e-3):
            assert X.ndim == 4  # N, C, H, W
            ctx.save_for_backward(X, conv_weight)
            X = F.conv2d(X, conv_weight)
            sum = X.sum(dim=(0, 2, 3))
            var = X.var(unbiased=True, dim=(0, 2, 3))
            N = X.numel() / X.size(1)
            sqrt_var = torch.sqrt(var)
            ctx.eps = eps
            ctx.sum = sum
            ctx.N = N
            ctx.sqrt_var = sqrt_var
            mean = sum / N
            denom = sqrt_var + eps
            out = X - unsqueeze_all(mean)
            out /= unsqueeze_all(denom)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            (
                X,
                conv_weight,
            ) = ctx.saved_tensors
            X_conv_out = F.conv2d(X, conv_weight)
            grad_out = batch_norm_backward(grad_out, X_conv_out, ctx.sum, ctx.sqrt_var, ctx.N, ctx.eps)
            grad_X, grad_input = convolution_backward(grad_out, X, conv_weight)
            return grad_X, grad_input, None, None, None, None, None

    class FusedConvBN(nn.Module):
        def __init__(
            self, in_channels, out_channels, kernel_size, exp_avg_factor=0.1, eps=1e-3, device=None, dtype=None
        ):
            super(FusedConvBN, self).__init__()
            factory_kwargs = {"device": device, "dtype": dtype}
            weight_shape = (out_channels, in_channels, kernel_size, kernel_size)
            self.conv_weight = nn.Parameter(torch.empty(*weight_shape, **factory_kwargs))
            num_features = out_channels
            self.num_features = num_features
            self.eps = eps
            self.reset_parameters()

        def forward(self, X):
            return FusedConvBN2DFunction.apply(X, self.conv_weight, self.eps)

        def reset_parameters(self) -> None:
            nn.init.kaiming_uniform_(self.conv_weight, a=math.sqrt(5))

    weight = torch.from_numpy(rng.random((5, 3, 3, 3))).requires_grad_(True)
    X = torch.from_numpy(rng.random((2, 3, 4, 4))).requires_grad_(True)
    out["fused_gradcheck"] = torch.autograd.gradcheck(FusedConvBN2DFunction.apply, (X, weight))

    class Net(nn.Module):
        def __init__(self, fused=True):
            super(Net, self).__init__()
            self.fused = fused
            if fused:
                self.convbn1 = FusedConvBN(1, 4, 3)
                self.convbn2 = FusedConvBN(4, 6, 3)
            else:
                self.conv1 = nn.Conv2d(1, 4, 3, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(4, affine=False, track_running_stats=False)
                self.conv2 = nn.Conv2d(4, 6, 3, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(6, affine=False, track_running_stats=False)
            self.fc1 = nn.Linear(24, 16)
            self.dropout = nn.Dropout(0.5)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            if self.fused:
                x = self.convbn1(x)
            else:
                x = self.conv1(x)
                x = self.bn1(x)
            x = F.relu(x)
            if self.fused:
                x = self.convbn2(x)
            else:
                x = self.conv2(x)
                x = self.bn2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = F.relu(x)
            x = x.flatten(1)
            x = self.fc1(x)
            x = self.dropout(x)
            x = F.relu(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    losses = []

    def train(model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.inference_mode():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        losses.append((test_loss, correct))

    optim = torch.optim
    StepLR = torch.optim.lr_scheduler.StepLR
    device = torch.device("cpu")
    data = torch.utils.data
    dataset1 = data.TensorDataset(
        torch.from_numpy(_data(43, 12, 1, 8, 8)), torch.from_numpy(_data(44, 12, low=0, high=10))
    )
    dataset2 = data.TensorDataset(
        torch.from_numpy(_data(45, 8, 1, 8, 8)), torch.from_numpy(_data(46, 8, low=0, high=10))
    )
    train_loader = data.DataLoader(dataset1, batch_size=4)
    test_loader = data.DataLoader(dataset2, batch_size=4)
    torch.manual_seed(123456)
    model = Net(fused=fused).to(device)
    model.dropout.p = 0.0  # (the comparison needs no random masks)
    start = {"model": _start(torch, model, init, "model")}
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(2):
        train(model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()
    out["losses"] = losses
    out["final"] = _state(model)
    return out, start


# ------------------------------------------------------------------ NLP from scratch: synthetic names


def _names(n_per=6, seed=50):
    """Names of four made-up languages, each from its own letters (the tutorial reads data/names/*.txt)."""
    rng = np.random.default_rng(seed)
    alphabets = {"Ardic": "aeklmr", "Borish": "obuvzs", "Celtan": "ignhfe", "Doric": "dtpwya"}
    lines = {}
    for lang, letters in alphabets.items():
        lines[lang] = ["".join(rng.choice(list(letters), size=rng.integers(3, 7))).capitalize() for _ in range(n_per)]
    return lines


def char_rnn_classification(torch, init=None):
    import random
    import string

    nn = torch.nn
    Dataset = torch.utils.data.Dataset
    allowed_characters = string.ascii_letters + " .,;'" + "_"
    n_letters = len(allowed_characters)

    def letterToIndex(letter):
        # return our out-of-vocabulary character if we encounter a letter unknown to our model
        if letter not in allowed_characters:
            return allowed_characters.find("_")
        else:
            return allowed_characters.find(letter)

    def lineToTensor(line):
        tensor = torch.zeros(len(line), 1, n_letters)
        for li, letter in enumerate(line):
            tensor[li][0][letterToIndex(letter)] = 1
        return tensor

    out = {"J": lineToTensor("J"), "Jones": lineToTensor("Jones").size()}

    class NamesDataset(Dataset):
        def __init__(self, category_lines):
            self.data = []
            self.data_tensors = []
            self.labels = []
            self.labels_tensors = []
            labels_set = set()
            for label, lines in category_lines.items():
                labels_set.add(label)
                for name in lines:
                    self.data.append(name)
                    self.data_tensors.append(lineToTensor(name))
                    self.labels.append(label)
            self.labels_uniq = sorted(labels_set)  # (the tutorial's list(set(...)); sorted: one order for both)
            for idx in range(len(self.labels)):
                temp_tensor = torch.tensor([self.labels_uniq.index(self.labels[idx])], dtype=torch.long)
                self.labels_tensors.append(temp_tensor)

        def __len__(self):
            return len(self.data)

        def __getitem__(self, idx):
            data_item = self.data[idx]
            data_label = self.labels[idx]
            data_tensor = self.data_tensors[idx]
            label_tensor = self.labels_tensors[idx]
            return label_tensor, data_tensor, data_label, data_item

    alldata = NamesDataset(_names())
    out["len"] = len(alldata)
    n_train = 18  # (the tutorial: random_split(alldata, [.85, .15], generator=...); one split for both runs)
    train_set = torch.utils.data.Subset(alldata, list(range(0, 24, 4)) + list(range(1, 24, 2)) + [2, 22])
    test_set = torch.utils.data.Subset(alldata, [i for i in range(24) if i not in train_set.indices])
    out["sizes"] = (len(train_set), len(test_set), n_train)

    class CharRNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(CharRNN, self).__init__()
            self.rnn = nn.RNN(input_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, line_tensor):
            rnn_out, hidden = self.rnn(line_tensor)
            output = self.h2o(hidden[0])
            output = self.softmax(output)
            return output

    n_hidden = 16
    rnn = CharRNN(n_letters, n_hidden, len(alldata.labels_uniq))
    start = {"rnn": _start(torch, rnn, init, "rnn")}

    def label_from_output(output, output_labels):
        top_n, top_i = output.topk(1)
        label_i = top_i[0].item()
        return output_labels[label_i], label_i

    input = lineToTensor("Albert")
    output = rnn(input)
    out["first"] = (output, label_from_output(output, alldata.labels_uniq))

    def train(
        rnn, training_data, n_epoch=10, n_batch_size=64, report_every=50, learning_rate=0.2, criterion=nn.NLLLoss()
    ):
        current_loss = 0
        all_losses = []
        rnn.train()
        optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)
        for iter in range(1, n_epoch + 1):
            rnn.zero_grad()  # clear the gradients
            # create some minibatches
            # we cannot use dataloaders because each of our names is a different length
            batches = list(range(len(training_data)))
            random.shuffle(batches)
            batches = np.array_split(batches, len(batches) // n_batch_size)
            for idx, batch in enumerate(batches):
                batch_loss = 0
                for i in batch:  # for each example in this batch
                    (label_tensor, text_tensor, label, text) = training_data[i]
                    output = rnn.forward(text_tensor)
                    loss = criterion(output, label_tensor)
                    batch_loss += loss
                # optimize parameters
                batch_loss.backward()
                nn.utils.clip_grad_norm_(rnn.parameters(), 3)
                optimizer.step()
                optimizer.zero_grad()
                current_loss += batch_loss.item() / len(batch)
            all_losses.append(current_loss / len(batches))
            current_loss = 0
        return all_losses

    random.seed(2024)
    out["losses"] = train(rnn, train_set, n_epoch=4, n_batch_size=6, learning_rate=0.15)

    def evaluate(rnn, testing_data, classes):
        confusion = torch.zeros(len(classes), len(classes))
        rnn.eval()  # set to eval mode
        with torch.no_grad():  # do not record the gradients during eval phase
            for i in range(len(testing_data)):
                (label_tensor, text_tensor, label, text) = testing_data[i]
                output = rnn(text_tensor)
                guess, guess_i = label_from_output(output, classes)
                label_i = classes.index(label)
                confusion[label_i][guess_i] += 1
        # Normalize by dividing every row by its sum
        for i in range(len(classes)):
            denom = confusion[i].sum()
            if denom > 0:
                confusion[i] = confusion[i] / denom
        return confusion

    out["confusion"] = evaluate(rnn, test_set, classes=alldata.labels_uniq)
    out["final"] = _state(rnn)
    return out, start


def char_rnn_generation(torch, init=None):
    import random
    import string

    nn = torch.nn
    all_letters = string.ascii_letters + " .,;'-"
    n_letters = len(all_letters) + 1  # Plus EOS marker
    category_lines = _names(seed=51)
    all_categories = list(category_lines)
    n_categories = len(all_categories)

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
            self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
            self.o2o = nn.Linear(hidden_size + output_size, output_size)
            self.dropout = nn.Dropout(0.1)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, category, input, hidden):
            input_combined = torch.cat((category, input, hidden), 1)
            hidden = self.i2h(input_combined)
            output = self.i2o(input_combined)
            output_combined = torch.cat((hidden, output), 1)
            output = self.o2o(output_combined)
            output = self.dropout(output)
            output = self.softmax(output)
            return output, hidden

        def initHidden(self):
            return torch.zeros(1, self.hidden_size)

    def randomChoice(l):
        return l[random.randint(0, len(l) - 1)]

    def randomTrainingPair():
        category = randomChoice(all_categories)
        line = randomChoice(category_lines[category])
        return category, line

    def categoryTensor(category):
        li = all_categories.index(category)
        tensor = torch.zeros(1, n_categories)
        tensor[0][li] = 1
        return tensor

    def inputTensor(line):
        tensor = torch.zeros(len(line), 1, n_letters)
        for li in range(len(line)):
            letter = line[li]
            tensor[li][0][all_letters.find(letter)] = 1
        return tensor

    def targetTensor(line):
        letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
        letter_indexes.append(n_letters - 1)  # EOS
        return torch.LongTensor(letter_indexes)

    def randomTrainingExample():
        category, line = randomTrainingPair()
        category_tensor = categoryTensor(category)
        input_line_tensor = inputTensor(line)
        target_line_tensor = targetTensor(line)
        return category_tensor, input_line_tensor, target_line_tensor

    criterion = nn.NLLLoss()
    learning_rate = 0.05

    def train(category_tensor, input_line_tensor, target_line_tensor):
        target_line_tensor.unsqueeze_(-1)
        hidden = rnn.initHidden()
        rnn.zero_grad()
        loss = torch.Tensor([0])  # you can also just simply use ``loss = 0``
        for i in range(input_line_tensor.size(0)):
            output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
            l = criterion(output, target_line_tensor[i])
            loss += l
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item() / input_line_tensor.size(0)

    rnn = RNN(n_letters, 16, n_letters)
    rnn.dropout.p = 0.0  # (the comparison needs no random masks)
    start = {"rnn": _start(torch, rnn, init, "rnn")}
    random.seed(7)
    all_losses = []
    for iter in range(1, 9):
        output, loss = train(*randomTrainingExample())
        all_losses.append(loss)
    max_length = 8

    def sample(category, start_letter="A"):
        with torch.no_grad():  # no need to track history in sampling
            category_tensor = categoryTensor(category)
            input = inputTensor(start_letter)
            hidden = rnn.initHidden()
            output_name = start_letter
            for i in range(max_length):
                output, hidden = rnn(category_tensor, input[0], hidden)
                topv, topi = output.topk(1)
                topi = topi[0][0]
                if topi == n_letters - 1:
                    break
                else:
                    letter = all_letters[topi]
                    output_name += letter
                input = inputTensor(letter)
            return output_name

    def samples(category, start_letters="ABC"):
        return [sample(category, start_letter) for start_letter in start_letters]

    return {"losses": all_losses, "samples": samples("Ardic", "ABK"), "final": _state(rnn)}, start


def seq2seq_translation(torch, init=None):
    nn, F, optim = torch.nn, torch.nn.functional, torch.optim
    TensorDataset, DataLoader = torch.utils.data.TensorDataset, torch.utils.data.DataLoader
    SequentialSampler = torch.utils.data.SequentialSampler
    device = torch.device("cpu")
    SOS_token = 0
    EOS_token = 1

    class Lang:
        def __init__(self, name):
            self.name = name
            self.word2index = {}
            self.word2count = {}
            self.index2word = {0: "SOS", 1: "EOS"}
            self.n_words = 2  # Count SOS and EOS

        def addSentence(self, sentence):
            for word in sentence.split(" "):
                self.addWord(word)

        def addWord(self, word):
            if word not in self.word2index:
                self.word2index[word] = self.n_words
                self.word2count[word] = 1
                self.index2word[self.n_words] = word
                self.n_words += 1
            else:
                self.word2count[word] += 1

    # synthetic pairs in place of eng-fra.txt: the target is the source's words, renamed and reversed
    rng = np.random.default_rng(60)
    src_words = ["je", "suis", "tu", "es", "il", "est", "grand", "petit", "content"]
    pairs = []
    for _ in range(12):
        s = " ".join(rng.choice(src_words, size=rng.integers(2, 5)))
        pairs.append([s, " ".join("x" + w for w in reversed(s.split()))])
    input_lang, output_lang = Lang("fra"), Lang("eng")
    for pair in pairs:
        input_lang.addSentence(pair[0])
        output_lang.addSentence(pair[1])
    MAX_LENGTH = 6

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size, dropout_p=0.1):
            super(EncoderRNN, self).__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, input):
            embedded = self.dropout(self.embedding(input))
            output, hidden = self.gru(embedded)
            return output, hidden

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden_size):
            super(BahdanauAttention, self).__init__()
            self.Wa = nn.Linear(hidden_size, hidden_size)
            self.Ua = nn.Linear(hidden_size, hidden_size)
            self.Va = nn.Linear(hidden_size, 1)

        def forward(self, query, keys):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)
            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)
            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1):
            super(AttnDecoderRNN, self).__init__()
            self.embedding = nn.Embedding(output_size, hidden_size)
            self.attention = BahdanauAttention(hidden_size)
            self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
            self.out = nn.Linear(hidden_size, output_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
            batch_size = encoder_outputs.size(0)
            decoder_input = torch.empty(batch_size, 1, dtype=torch.long, device=device).fill_(SOS_token)
            decoder_hidden = encoder_hidden
            decoder_outputs = []
            attentions = []
            for i in range(MAX_LENGTH):
                decoder_output, decoder_hidden, attn_weights = self.forward_step(
                    decoder_input, decoder_hidden, encoder_outputs
                )
                decoder_outputs.append(decoder_output)
                attentions.append(attn_weights)
                if target_tensor is not None:
                    # Teacher forcing: Feed the target as the next input
                    decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
                else:
                    # Without teacher forcing: use its own predictions as the next input
                    _, topi = decoder_output.topk(1)
                    decoder_input = topi.squeeze(-1).detach()  # detach from history as input
            decoder_outputs = torch.cat(decoder_outputs, dim=1)
            decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
            attentions = torch.cat(attentions, dim=1)
            return decoder_outputs, decoder_hidden, attentions

        def forward_step(self, input, hidden, encoder_outputs):
            embedded = self.dropout(self.embedding(input))
            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            input_gru = torch.cat((embedded, context), dim=2)
            output, hidden = self.gru(input_gru, hidden)
            output = self.out(output)
            return output, hidden, attn_weights

    def indexesFromSentence(lang, sentence):
        return [lang.word2index[word] for word in sentence.split(" ")]

    def tensorFromSentence(lang, sentence):
        indexes = indexesFromSentence(lang, sentence)
        indexes.append(EOS_token)
        return torch.tensor(indexes, dtype=torch.long, device=device).view(1, -1)

    def get_dataloader(batch_size):
        n = len(pairs)
        input_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
        target_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
        for idx, (inp, tgt) in enumerate(pairs):
            inp_ids = indexesFromSentence(input_lang, inp)
            tgt_ids = indexesFromSentence(output_lang, tgt)
            inp_ids.append(EOS_token)
            tgt_ids.append(EOS_token)
            input_ids[idx, : len(inp_ids)] = inp_ids
            target_ids[idx, : len(tgt_ids)] = tgt_ids
        train_data = TensorDataset(torch.LongTensor(input_ids).to(device), torch.LongTensor(target_ids).to(device))
        train_sampler = SequentialSampler(train_data)  # (the tutorial's RandomSampler: one order for both runs)
        train_dataloader = DataLoader(train_data, sampler=train_sampler, batch_size=batch_size)
        return input_lang, output_lang, train_dataloader

    def train_epoch(dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion):
        total_loss = 0
        for data in dataloader:
            input_tensor, target_tensor = data
            encoder_optimizer.zero_grad()
            decoder_optimizer.zero_grad()
            encoder_outputs, encoder_hidden = encoder(input_tensor)
            decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)
            loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1))
            loss.backward()
            encoder_optimizer.step()
            decoder_optimizer.step()
            total_loss += loss.item()
        return total_loss / len(dataloader)

    def train(train_dataloader, encoder, decoder, n_epochs, learning_rate=0.001):
        plot_losses = []
        encoder_optimizer = optim.Adam(encoder.parameters(), lr=learning_rate)
        decoder_optimizer = optim.Adam(decoder.parameters(), lr=learning_rate)
        criterion = nn.NLLLoss()
        for epoch in range(1, n_epochs + 1):
            loss = train_epoch(train_dataloader, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion)
            plot_losses.append(loss)
        return plot_losses

    def evaluate(encoder, decoder, sentence, input_lang, output_lang):
        with torch.no_grad():
            input_tensor = tensorFromSentence(input_lang, sentence)
            encoder_outputs, encoder_hidden = encoder(input_tensor)
            decoder_outputs, decoder_hidden, decoder_attn = decoder(encoder_outputs, encoder_hidden)
            _, topi = decoder_outputs.topk(1)
            decoded_ids = topi.squeeze()
            decoded_words = []
            for idx in decoded_ids:
                if idx.item() == EOS_token:
                    decoded_words.append("<EOS>")
                    break
                decoded_words.append(output_lang.index2word[idx.item()])
        return decoded_words, decoder_attn

    hidden_size = 8
    batch_size = 4
    input_lang, output_lang, train_dataloader = get_dataloader(batch_size)
    encoder = EncoderRNN(input_lang.n_words, hidden_size).to(device)
    decoder = AttnDecoderRNN(hidden_size, output_lang.n_words).to(device)
    encoder.dropout.p = decoder.dropout.p = 0.0  # (the comparison needs no random masks)
    start = {"encoder": _start(torch, encoder, init, "encoder"), "decoder": _start(torch, decoder, init, "decoder")}
    losses = train(train_dataloader, encoder, decoder, 3, learning_rate=0.01)
    encoder.eval()
    decoder.eval()
    words, attn = evaluate(encoder, decoder, pairs[0][0], input_lang, output_lang)
    dec = _state(decoder)
    # softmax ignores a shift, so Va.bias's gradient is rounding noise that Adam scales up to +-lr per step
    dec.pop("attention.Va.bias")
    return {"losses": losses, "words": words, "attn": attn, "enc": _state(encoder), "dec": dec}, start


# ------------------------------------------------------------------ spatial_transformer_tutorial.py


def spatial_transformer(torch, init=None):
    nn, F, optim = torch.nn, torch.nn.functional, torch.optim
    device = torch.device("cpu")
    data = torch.utils.data
    # MNIST-shaped random digits in place of datasets.MNIST (normalized as the tutorial's transform)
    train_loader = data.DataLoader(
        data.TensorDataset(torch.from_numpy(_data(70, 12, 1, 28, 28)), torch.from_numpy(_data(71, 12, low=0, high=10))),
        batch_size=4,
    )
    test_loader = data.DataLoader(
        data.TensorDataset(torch.from_numpy(_data(72, 8, 1, 28, 28)), torch.from_numpy(_data(73, 8, low=0, high=10))),
        batch_size=4,
    )

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)
            self.drop_p = 0.5

            # Spatial transformer localization-network
            self.localization = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=7),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True),
                nn.Conv2d(8, 10, kernel_size=5),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True),
            )

            # Regressor for the 3 * 2 affine matrix
            self.fc_loc = nn.Sequential(nn.Linear(10 * 3 * 3, 32), nn.ReLU(True), nn.Linear(32, 3 * 2))

            # Initialize the weights/bias with identity transformation
            self.fc_loc[2].weight.data.zero_()
            self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

        # Spatial transformer network forward function
        def stn(self, x):
            xs = self.localization(x)
            xs = xs.view(-1, 10 * 3 * 3)
            theta = self.fc_loc(xs)
            theta = theta.view(-1, 2, 3)

            grid = F.affine_grid(theta, x.size())
            x = F.grid_sample(x, grid)

            return x

        def forward(self, x):
            # transform the input
            x = self.stn(x)

            # Perform the usual forward pass
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 320)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, p=self.drop_p, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    model = Net().to(device)
    model.conv2_drop.p = model.drop_p = 0.0  # (the comparison needs no random masks)
    start = {"model": _start(torch, model, init, "model")}
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    losses = []

    def train(epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)

            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test():
        with torch.no_grad():
            model.eval()
            test_loss = 0
            correct = 0
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)

                # sum up batch loss
                test_loss += F.nll_loss(output, target, size_average=False).item()
                # get the index of the max log-probability
                pred = output.max(1, keepdim=True)[1]
                correct += pred.eq(target.view_as(pred)).sum().item()

            test_loss /= len(test_loader.dataset)
            losses.append((test_loss, correct))

    def convert_image_np(inp):
        """Convert a Tensor to numpy image."""
        inp = inp.numpy().transpose((1, 2, 0))
        mean = np.array([0.485, 0.456, 0.406])
        std = np.array([0.229, 0.224, 0.225])
        inp = std * inp + mean
        inp = np.clip(inp, 0, 1)
        return inp

    def visualize_stn():
        with torch.no_grad():
            # Get a batch of training data
            data = next(iter(test_loader))[0].to(device)

            input_tensor = data.cpu()
            transformed_input_tensor = model.stn(data).cpu()
            # (the tutorial's torchvision.utils.make_grid: the images side by side)
            in_grid = convert_image_np(torch.cat(list(input_tensor), 2).repeat(3, 1, 1))
            out_grid = convert_image_np(torch.cat(list(transformed_input_tensor), 2).repeat(3, 1, 1))
            return in_grid, out_grid

    for epoch in range(1, 3):
        train(epoch)
        test()
    in_grid, out_grid = visualize_stn()
    return {"losses": losses, "in": in_grid, "out": out_grid, "final": _state(model)}, start


# ------------------------------------------------------------------ fgsm_tutorial.py


def fgsm(torch, init=None):
    nn, F = torch.nn, torch.nn.functional
    device = torch.device("cpu")
    epsilons = [0, 0.05, 0.1, 0.2, 0.3]

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 6, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(54, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    model = Net().to(device)
    start = {"model": _start(torch, model, init, "model")}
    model.eval()
    images = (_data(80, 10, 1, 10, 10) * 0.2 + 0.5).clip(0, 1)
    images = torch.from_numpy((images - 0.1307) / 0.3081)
    with torch.no_grad():  # most labels are the model's guesses, so that the attack has something to flip
        labels = model(images).argmax(1)
    labels[::4] = (labels[::4] + 1) % 10
    test_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels), batch_size=1)

    def fgsm_attack(image, epsilon, data_grad):
        # Collect the element-wise sign of the data gradient
        sign_data_grad = data_grad.sign()
        # Create the perturbed image by adjusting each pixel of the input image
        perturbed_image = image + epsilon * sign_data_grad
        # Adding clipping to maintain [0,1] range
        perturbed_image = torch.clamp(perturbed_image, 0, 1)
        # Return the perturbed image
        return perturbed_image

    def denorm(batch, mean=[0.1307], std=[0.3081]):
        if isinstance(mean, list):
            mean = torch.tensor(mean).to(device)
        if isinstance(std, list):
            std = torch.tensor(std).to(device)
        return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)

    def test(model, device, test_loader, epsilon):
        correct = 0
        adv_examples = []
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            data.requires_grad = True
            output = model(data)
            init_pred = output.max(1, keepdim=True)[1]  # get the index of the max log-probability
            if init_pred.item() != target.item():
                continue
            loss = F.nll_loss(output, target)
            model.zero_grad()
            loss.backward()
            data_grad = data.grad.data
            data_denorm = denorm(data)
            perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)
            # (the tutorial's transforms.Normalize((0.1307,), (0.3081,)))
            perturbed_data_normalized = (perturbed_data - 0.1307) / 0.3081
            output = model(perturbed_data_normalized)
            final_pred = output.max(1, keepdim=True)[1]
            if final_pred.item() == target.item():
                correct += 1
                if epsilon == 0 and len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
            else:
                if len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
        final_acc = correct / float(len(test_loader))
        return final_acc, adv_examples

    accuracies = []
    examples = []
    for eps in epsilons:
        acc, ex = test(model, device, test_loader, eps)
        accuracies.append(acc)
        examples.append(ex)
    return {"accuracies": accuracies, "examples": examples}, start


# ------------------------------------------------------------------ scaled_dot_product_attention_tutorial.py (CPU)


def sdpa_tutorial(torch, init=None):
    nn, F = torch.nn, torch.nn.functional
    attention = import_module(torch.__name__ + ".nn.attention")
    bias = import_module(torch.__name__ + ".nn.attention.bias")
    device = "cpu"
    out = {}
    query, key, value = (torch.from_numpy(_data(90 + i, 2, 3, 8)) for i in range(3))
    out["basic"] = F.scaled_dot_product_attention(query, key, value)
    sdpa_kernel, SDPBackend = attention.sdpa_kernel, attention.SDPBackend
    with sdpa_kernel(SDPBackend.MATH):
        out["math"] = F.scaled_dot_product_attention(query, key, value)

    class CausalSelfAttention(nn.Module):
        def __init__(
            self,
            num_heads: int,
            embed_dimension: int,
            bias: bool = False,
            is_causal: bool = False,
            dropout: float = 0.0,
        ):
            super().__init__()
            assert embed_dimension % num_heads == 0
            # key, query, value projections for all heads, but in a batch
            self.c_attn = nn.Linear(embed_dimension, 3 * embed_dimension, bias=bias)
            # output projection
            self.c_proj = nn.Linear(embed_dimension, embed_dimension, bias=bias)
            # regularization
            self.dropout = dropout
            self.resid_dropout = nn.Dropout(dropout)
            self.num_heads = num_heads
            self.embed_dimension = embed_dimension
            # Perform causal masking
            self.is_causal = is_causal

        def forward(self, x):
            # calculate query, key, values for all heads in batch and move head forward to be the batch dim
            query_projected = self.c_attn(x)

            batch_size = query_projected.size(0)
            embed_dim = query_projected.size(2)
            head_dim = embed_dim // (self.num_heads * 3)

            query, key, value = query_projected.chunk(3, -1)
            query = query.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
            key = key.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
            value = value.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)

            if self.training:
                dropout = self.dropout
                is_causal = self.is_causal
            else:
                dropout = 0.0
                is_causal = False

            y = F.scaled_dot_product_attention(
                query, key, value, attn_mask=None, dropout_p=dropout, is_causal=is_causal
            )
            y = y.transpose(1, 2).view(batch_size, -1, self.num_heads * head_dim)

            y = self.resid_dropout(self.c_proj(y))
            return y

    num_heads = 2
    heads_per_dim = 4
    embed_dimension = num_heads * heads_per_dim
    dtype = torch.float32
    model = (
        CausalSelfAttention(
            num_heads=num_heads, embed_dimension=embed_dimension, bias=False, is_causal=True, dropout=0.0
        )
        .to(device)
        .to(dtype)
    )
    start = {"model": _start(torch, model, init, "model")}
    x = torch.from_numpy(_data(93, 2, 5, embed_dimension))
    y = model(x)  # training: causal
    y.square().mean().backward()
    out["train"] = (y, model.c_attn.weight.grad, model.c_proj.weight.grad)
    model.eval()
    out["eval"] = model(x)
    out["repr"] = repr(model)

    causal_lower_right, causal_upper_left = bias.causal_lower_right, bias.causal_upper_left
    batch_size, sequence_length_q, sequence_length_kv, num_heads, embed_dimension = 2, 2, 5, 2, 4
    query = torch.from_numpy(
        np.random.default_rng(94).random((batch_size, num_heads, sequence_length_q, embed_dimension), dtype=np.float32)
    )
    key = torch.from_numpy(
        np.random.default_rng(95).random((batch_size, num_heads, sequence_length_kv, embed_dimension), dtype=np.float32)
    )
    value = torch.from_numpy(
        np.random.default_rng(96).random((batch_size, num_heads, sequence_length_kv, embed_dimension), dtype=np.float32)
    )
    upper_left_bias = causal_upper_left(sequence_length_q, sequence_length_kv)
    lower_right_bias = causal_lower_right(sequence_length_q, sequence_length_kv)
    out["bias_types"] = (type(upper_left_bias).__name__, type(lower_right_bias).__name__)
    out_upper_left = F.scaled_dot_product_attention(query, key, value, upper_left_bias)
    out_lower_right = F.scaled_dot_product_attention(query, key, value, lower_right_bias)
    out_is_causal = F.scaled_dot_product_attention(query, key, value, is_causal=True)
    assert torch.allclose(out_upper_left, out_is_causal)
    assert not torch.allclose(out_upper_left, out_lower_right)
    out["biases"] = (out_upper_left, out_lower_right, upper_left_bias._materialize(), lower_right_bias._materialize())
    # the bias is differentiable through: its masks meet a query that requires grad
    q = query.clone().requires_grad_()
    F.scaled_dot_product_attention(q, key, value, lower_right_bias).sum().backward()
    out["bias_grad"] = q.grad
    return out, start


# ------------------------------------------------------------------ parametrizations.py


def parametrizations(torch, init=None):
    import contextlib
    import io

    nn = torch.nn
    parametrize = import_module(torch.__name__ + ".nn.utils.parametrize")
    buf = io.StringIO()
    rng = np.random.default_rng(100)
    rand = lambda *shape: torch.from_numpy(rng.random(shape, dtype=np.float32))
    out = {}

    def symmetric(X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    X = rand(3, 3)
    A = symmetric(X)
    assert torch.allclose(A, A.T)  # A is symmetric
    out["A"] = A

    class LinearSymmetric(nn.Module):
        def __init__(self, n_features):
            super().__init__()
            self.weight = nn.Parameter(rand(n_features, n_features))

        def forward(self, x):
            A = symmetric(self.weight)
            return x @ A

    layer = LinearSymmetric(3)
    out["linear_symmetric"] = layer(rand(8, 3))

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    def fresh(*args):
        layer = nn.Linear(*args)
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(rand(*p.shape) - 0.5)
        return layer

    layer = fresh(3, 3)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    A = layer.weight
    assert torch.allclose(A, A.T)  # A is symmetric
    out["sym"] = A

    class Skew(nn.Module):
        def forward(self, X):
            A = X.triu(1)
            return A - A.transpose(-1, -2)

    cnn = nn.Conv2d(in_channels=5, out_channels=8, kernel_size=3)
    with torch.no_grad():
        cnn.weight.copy_(rand(8, 5, 3, 3))
    parametrize.register_parametrization(cnn, "weight", Skew())
    out["cnn"] = (cnn.weight[0, 1], cnn.weight[2, 2])

    layer = fresh(3, 3)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    with contextlib.redirect_stdout(buf):
        print(layer)
    out["original"] = layer.parametrizations.weight.original
    out["dist"] = torch.dist(layer.weight, symmetric(layer.parametrizations.weight.original))

    class NoisyParametrization(nn.Module):
        def forward(self, X):
            print("Computing the Parametrization")
            return X

    layer = fresh(4, 4)
    with contextlib.redirect_stdout(buf):
        parametrize.register_parametrization(layer, "weight", NoisyParametrization())
        print("Here, layer.weight is recomputed every time we call it")
        foo = layer.weight + layer.weight.T
        bar = layer.weight.sum()
        with parametrize.cached():
            print("Here, it is computed just the first time layer.weight is called")
            foo = layer.weight + layer.weight.T
            bar = layer.weight.sum()
    out["cached"] = (foo, bar)

    class CayleyMap(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.register_buffer("Id", torch.eye(n))

        def forward(self, X):
            # (I + X)(I - X)^{-1}
            return torch.linalg.solve(self.Id - X, self.Id + X)

    layer = fresh(3, 3)
    parametrize.register_parametrization(layer, "weight", Skew())
    parametrize.register_parametrization(layer, "weight", CayleyMap(3))
    X = layer.weight
    out["cayley"] = (X, torch.dist(X.T @ X, torch.eye(3)).item() < 1e-5)  # X is orthogonal

    class MatrixExponential(nn.Module):
        def forward(self, X):
            return torch.matrix_exp(X)

    layer_orthogonal = fresh(3, 3)
    parametrize.register_parametrization(layer_orthogonal, "weight", Skew())
    parametrize.register_parametrization(layer_orthogonal, "weight", MatrixExponential())
    X = layer_orthogonal.weight
    out["expm"] = (X, torch.dist(X.T @ X, torch.eye(3)).item() < 1e-5)  # X is orthogonal

    layer_spd = fresh(3, 3)
    parametrize.register_parametrization(layer_spd, "weight", Symmetric())
    parametrize.register_parametrization(layer_spd, "weight", MatrixExponential())
    X = layer_spd.weight
    out["spd"] = (X, torch.dist(X, X.T), (torch.linalg.eigvalsh(X) > 0.0).all())  # X is symmetric, positive definite

    # training through the two parametrizations: gradients reach the unconstrained original
    opt = torch.optim.SGD(layer_spd.parameters(), lr=0.1)
    x = rand(5, 3)
    steps = []
    for _ in range(3):
        opt.zero_grad()
        loss = layer_spd(x).square().mean()
        loss.backward()
        opt.step()
        steps.append(loss.item())
    out["train"] = (steps, layer_spd.parametrizations.weight.original, layer_spd.weight)

    class Skew(nn.Module):
        def forward(self, X):
            A = X.triu(1)
            return A - A.transpose(-1, -2)

        def right_inverse(self, A):
            # We assume that A is skew-symmetric
            # We take the upper-triangular elements, as these are those used in the forward
            return A.triu(1)

    layer = fresh(3, 3)
    parametrize.register_parametrization(layer, "weight", Skew())
    X = rand(3, 3)
    X = X - X.T  # X is now skew-symmetric
    layer.weight = X  # Initialize layer.weight to be X
    out["right_inverse"] = (torch.dist(layer.weight, X), layer.parametrizations.weight.original)

    layer_orthogonal = fresh(3, 3)
    parametrize.register_parametrization(layer_orthogonal, "weight", Skew())
    parametrize.register_parametrization(layer_orthogonal, "weight", CayleyMap(3))
    with contextlib.redirect_stdout(buf):
        print(layer_orthogonal)

    layer = fresh(3, 3)
    with contextlib.redirect_stdout(buf):
        print("Before:")
        print(layer)
        parametrize.register_parametrization(layer, "weight", Skew())
        print("\nParametrized:")
        print(layer)
        parametrize.remove_parametrizations(layer, "weight")
        print("\nAfter. Weight has skew-symmetric values but it is unconstrained:")
        print(layer)
    out["removed"] = layer.weight

    layer = fresh(3, 3)
    w0 = layer.weight.detach().clone()
    parametrize.register_parametrization(layer, "weight", Skew())
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    out["not_left"] = (layer.weight, torch.equal(layer.weight.detach(), w0.triu(1)))
    out["printed"] = buf.getvalue()
    return out, {}


# ------------------------------------------------------------------ the tests

PROGRAMS = [
    "per_sample_grads",
    "ensembling",
    "jacobians_hessians",
    "neural_tangent_kernels",
    "forward_ad_usage",
    "double_backward",
    "conv_bn_fusion",
    "char_rnn_classification",
    "char_rnn_generation",
    "seq2seq_translation",
    "spatial_transformer",
    "fgsm",
    "sdpa_tutorial",
    "parametrizations",
]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch's forward AD, once
@pytest.mark.filterwarnings("ignore:Default grid_sample and affine_grid behavior:UserWarning")
@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated:UserWarning")
@pytest.mark.parametrize("name", PROGRAMS)
def test_tutorial(name: str) -> None:
    _run_pair(globals()[name], rtol=2e-5)


def test_conv_bn_unfused_net() -> None:
    """The tutorial's comparison network (nn.Conv2d + nn.BatchNorm2d without running stats) trains as torch's."""
    _run_pair(partial(conv_bn_fusion, fused=False), rtol=2e-5)


# ------------------------------------------------------------------ regressions of what the tutorials found


def test_function_with_only_jvp_under_forward_ad() -> None:
    """A custom Function that defines ``jvp`` and no ``backward`` gives its tangent to forward-mode AD (it runs
    once: the tutorial's jvp ``del``s what it read from ctx), and gradcheck's forward-mode check catches a wrong one."""
    fwAD = backprop.autograd.forward_ad

    class Fn(backprop.autograd.Function):
        @staticmethod
        def forward(ctx, foo, k):
            result = backprop.exp(foo) * k
            ctx.result = result
            return result

        @staticmethod
        def jvp(ctx, gI, gk):
            assert gk is None
            gO = gI * ctx.result
            del ctx.result
            return gO

    class Wrong(Fn):
        @staticmethod
        def jvp(ctx, gI, gk):
            return gI * 2 * ctx.result

    x = backprop.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=backprop.float64, requires_grad=True)
    t = backprop.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=backprop.float64)
    with fwAD.dual_level():
        y = Fn.apply(fwAD.make_dual(x, t), 3.0)
        tangent = fwAD.unpack_dual(y).tangent
    np.testing.assert_allclose(tangent.numpy(), t.numpy() * 3 * np.exp(x.detach().numpy()))
    kw = dict(check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False, check_batched_grad=False)
    assert backprop.autograd.gradcheck(lambda a: Fn.apply(a, 3.0), (x,), **kw)
    assert not backprop.autograd.gradcheck(lambda a: Wrong.apply(a, 3.0), (x,), raise_exception=False, **kw)
    with pytest.raises(NotImplementedError, match="backward or vjp"):  # reverse mode still needs a backward
        Fn.apply(x, 3.0).sum().backward()


def test_sdpa_output_keeps_the_multi_head_layout() -> None:
    """For a query ``x.view(B, L, H, E).transpose(1, 2)`` the attention's output is laid out as torch's CPU kernel
    lays it out, so the tutorials' ``y.transpose(1, 2).view(B, L, H * E)`` works; gradients are unchanged."""
    F = backprop.nn.functional
    x = backprop.tensor(_data(97, 2, 5, 24), requires_grad=True)
    q, k, v = (t.view(2, -1, 2, 4).transpose(1, 2) for t in x.chunk(3, -1))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert y.stride() == (40, 4, 8, 1)
    y.transpose(1, 2).view(2, -1, 8).sum().backward()
    plain = F.scaled_dot_product_attention(q.contiguous(), k, v, is_causal=True)
    assert plain.stride() == (40, 20, 4, 1)  # a contiguous query: a contiguous output, as torch's
    np.testing.assert_array_equal(plain.detach().numpy(), y.detach().numpy())
    if real_torch is not None:
        tx = real_torch.tensor(_data(97, 2, 5, 24), requires_grad=True)
        tq, tk, tv = (t.view(2, -1, 2, 4).transpose(1, 2) for t in tx.chunk(3, -1))
        ty = real_torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
        assert ty.stride() == y.stride()
        ty.transpose(1, 2).reshape(2, -1, 8).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
