"""The official PyTorch recipes run with ``backprop`` standing in for ``torch``.

Each recipe (what is a state_dict, saving and loading models / a general checkpoint / several models,
warmstarting, zeroing gradients, defining a network, ``torch.utils.benchmark``, the profiler, CPU
autocast, tensors, reproducibility, parametrizations, pruning, a custom Dataset, ``torch.compile``) is
written once as a function of the library module, at tiny sizes, with its readers' idioms. Where the
run is deterministic it is compared with torch's (weights copied from torch's model); timings and
profiles are compared by their structure only.
"""

# The recipes keep their originals' spelling.
# ruff: noqa: N801, N802, N803, N806, N814, UP008, UP004, UP032

from __future__ import annotations

import contextlib
import io
import json
import os
import random

import numpy as np
import pytest

import backprop

try:
    import torch as real_torch
except ImportError:  # pragma: no cover - the comparisons skip
    real_torch = None


def _need_torch() -> None:
    if real_torch is None:
        pytest.skip("torch not installed: the run is compared with torch's")


def _libs() -> list:
    return [backprop] if real_torch is None else [backprop, real_torch]


def _np(x):
    return np.asarray(x.detach().cpu().numpy()) if hasattr(x, "detach") else np.asarray(x)


def copy_state(src, dst, dst_lib) -> None:
    dst.load_state_dict({k: dst_lib.from_numpy(_np(v).copy()) for k, v in src.state_dict().items()})


def models(torch):
    nn, F = torch.nn, torch.nn.functional

    class TheModelClass(nn.Module):
        def __init__(self):
            super(TheModelClass, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 12)
            self.fc2 = nn.Linear(12, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            return self.fc2(F.relu(self.fc1(x)))

    # a module-level name, so that ``torch.save(model, PATH)`` pickles the whole model, as the recipe's does
    TheModelClass.__qualname__ = name = f"TheModelClass_{torch.__name__}"
    globals()[name] = TheModelClass
    return TheModelClass


# ------------------------------------------------------------------ state_dict, saving and loading


def state_dict_recipe(torch):
    net = models(torch)()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    lines = ["Model's state_dict:"]
    for param_tensor in net.state_dict():
        lines.append(f"{param_tensor}\t{list(net.state_dict()[param_tensor].size())}")
    lines.append("Optimizer's state_dict:")
    for var_name in optimizer.state_dict():
        lines.append(f"{var_name}\t{optimizer.state_dict()[var_name]}")
    return lines


def test_state_dict_recipe() -> None:
    _need_torch()
    assert state_dict_recipe(backprop) == state_dict_recipe(real_torch)


def save_load_recipe(torch, d, init=None):
    TheModelClass = models(torch)
    net = TheModelClass()
    if init is not None:
        copy_state(init, net, torch)
    PATH = os.path.join(d, "state_dict_model.pt")
    torch.save(net.state_dict(), PATH)
    model = TheModelClass()
    res = model.load_state_dict(torch.load(PATH, weights_only=True))
    model.eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    out1 = model(x)
    PATH = os.path.join(d, "entire_model.pt")
    torch.save(net, PATH)
    model = torch.load(PATH, weights_only=False)
    model.eval()
    return str(res), model.training, _np(out1), _np(model(x)), net


def test_save_load_for_inference(tmp_path) -> None:
    for torch in _libs():
        res, training, a, b, _ = save_load_recipe(torch, str(tmp_path))
        assert res == "<All keys matched successfully>" and not training
        np.testing.assert_array_equal(a, b)
    if real_torch is not None:
        t = save_load_recipe(real_torch, str(tmp_path))
        ours = save_load_recipe(backprop, str(tmp_path), init=t[4])
        np.testing.assert_allclose(ours[2], t[2], rtol=1e-4, atol=1e-5)


def checkpoint_recipe(torch, d, init=None):
    TheModelClass = models(torch)
    nn, optim = torch.nn, torch.optim
    net = TheModelClass()
    if init is not None:
        copy_state(init, net, torch)
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = torch.tensor([1, 2, 3, 4])
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = criterion(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    EPOCH, PATH, LOSS = 5, os.path.join(d, "model.pt"), 0.4
    torch.save(
        {
            "epoch": EPOCH,
            "model_state_dict": net.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "loss": LOSS,
        },
        PATH,
    )
    model = TheModelClass()
    optimizer2 = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    checkpoint = torch.load(PATH, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
    epoch, loss = checkpoint["epoch"], checkpoint["loss"]
    model.train()
    for m, o in ((net, optimizer), (model, optimizer2)):  # the resumed run continues as the original
        for _ in range(2):
            o.zero_grad()
            criterion(m(x), y).backward()
            o.step()
    same = all(torch.equal(a, b) for a, b in zip(net.parameters(), model.parameters()))
    return epoch, loss, same, losses, net


def test_general_checkpoint(tmp_path) -> None:
    for torch in _libs():
        epoch, loss, same, _, _ = checkpoint_recipe(torch, str(tmp_path))
        assert (epoch, loss, same) == (5, 0.4, True)
    if real_torch is not None:
        init = models(real_torch)()
        t = checkpoint_recipe(real_torch, str(tmp_path), init=init)
        ours = checkpoint_recipe(backprop, str(tmp_path), init=init)
        np.testing.assert_allclose(ours[3], t[3], rtol=1e-4)
        for a, b in zip(ours[4].parameters(), t[4].parameters()):
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-3, atol=1e-5)


def multiple_and_warmstart(torch, d):
    nn = torch.nn
    netA, netB = models(torch)(), nn.Linear(3, 2)
    optimizerA = torch.optim.SGD(netA.parameters(), lr=0.001, momentum=0.9)
    optimizerB = torch.optim.Adam(netB.parameters())
    PATH = os.path.join(d, "multi.pt")
    torch.save(
        {
            "modelA_state_dict": netA.state_dict(),
            "modelB_state_dict": netB.state_dict(),
            "optimizerA_state_dict": optimizerA.state_dict(),
            "optimizerB_state_dict": optimizerB.state_dict(),
        },
        PATH,
    )
    checkpoint = torch.load(PATH, weights_only=True)
    modelA, modelB = models(torch)(), nn.Linear(3, 2)
    modelA.load_state_dict(checkpoint["modelA_state_dict"])
    modelB.load_state_dict(checkpoint["modelB_state_dict"])
    torch.optim.Adam(modelB.parameters()).load_state_dict(checkpoint["optimizerB_state_dict"])
    out = [sorted(checkpoint), torch.equal(modelB.weight, netB.weight)]

    class NetA(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.fc1 = nn.Linear(10, 4)

    class NetB(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.fc2 = nn.Linear(4, 2)

    netA, netB = NetA(), NetB()
    PATH = os.path.join(d, "warm.pt")
    torch.save(netA.state_dict(), PATH)
    res = netB.load_state_dict(torch.load(PATH, weights_only=True), strict=False)
    out += [type(res).__name__, str(res), res.missing_keys, res.unexpected_keys]
    out.append(torch.equal(netB.conv1.weight, netA.conv1.weight))
    with pytest.raises(RuntimeError) as info:
        netB.load_state_dict(torch.load(PATH, weights_only=True))
    out.append(str(info.value))
    return out


def test_multiple_models_and_warmstart(tmp_path) -> None:
    got = multiple_and_warmstart(backprop, str(tmp_path))
    assert got[4] == ["fc2.weight", "fc2.bias"] and got[5] == ["fc1.weight", "fc1.bias"] and got[6]
    if real_torch is not None:
        assert got == multiple_and_warmstart(real_torch, str(tmp_path))


def zero_grad_recipe(torch):
    net = models(torch)()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    x = torch.ones(2, 3, 32, 32)
    net(x).sum().backward()
    optimizer.zero_grad()
    a = net.conv1.weight.grad
    net(x).sum().backward()
    net.zero_grad()
    b = net.conv1.weight.grad
    net(x).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    return a, b, net.conv1.weight.grad.abs().sum().item()


def test_zeroing_gradients() -> None:
    for torch in _libs():
        assert zero_grad_recipe(torch) == (None, None, 0.0)


def define_net(torch):
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 8, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(8 * 5 * 5, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def test_defining_a_network() -> None:
    _need_torch()
    t, ours = define_net(real_torch).eval(), define_net(backprop).eval()
    copy_state(t, ours, backprop)
    assert repr(ours) == repr(t)
    x = np.random.default_rng(2).random((2, 1, 14, 14)).astype(np.float32)
    a, b = ours(backprop.from_numpy(x)), t(real_torch.from_numpy(x))
    assert tuple(a.shape) == (2, 10) and a.dtype == np.float32
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-4, atol=1e-5)
    ours.train()
    assert np.allclose(np.exp(_np(ours(backprop.from_numpy(x)))).sum(1), 1, atol=1e-5)


# ------------------------------------------------------------------ benchmark and profiler


def batched_dot_mul_sum(a, b):
    return a.mul(b).sum(-1)


def batched_dot_bmm(a, b):
    a = a.reshape(-1, 1, a.shape[-1])
    b = b.reshape(-1, b.shape[-1], 1)
    return backprop.bmm(a, b).flatten(-3) if isinstance(a, backprop.Tensor) else real_torch.bmm(a, b).flatten(-3)


def test_benchmark_recipe() -> None:
    import backprop.utils.benchmark as benchmark

    x = backprop.randn(10, 8)
    assert batched_dot_mul_sum(x, x).allclose(batched_dot_bmm(x, x))
    g = {"x": x, "batched_dot_mul_sum": batched_dot_mul_sum, "batched_dot_bmm": batched_dot_bmm}
    t0 = benchmark.Timer(stmt="batched_dot_mul_sum(x, x)", globals=g)
    m0 = t0.timeit(100)
    assert m0.number_per_run == 100 and m0.mean > 0 and m0.median > 0 and m0.iqr >= 0
    assert "batched_dot_mul_sum(x, x)" in str(m0) and m0.task_spec.stmt == "batched_dot_mul_sum(x, x)"
    m1 = benchmark.Timer(stmt="batched_dot_bmm(x, x)", globals=g).blocked_autorange(min_run_time=0.02)
    assert m1.mean > 0 and len(m1.times) >= 1
    assert t0.adaptive_autorange(max_run_time=0.05).median > 0
    results = []
    for n in [1, 4]:
        for num_threads in [1, 2]:
            g["x"] = backprop.ones((n, n))
            for stmt, desc in (("batched_dot_mul_sum(x, x)", "mul/sum"), ("batched_dot_bmm(x, x)", "bmm")):
                timer = benchmark.Timer(
                    stmt=stmt,
                    globals=g,
                    num_threads=num_threads,
                    label="Batched dot",
                    sub_label=f"[{n}, {n}]",
                    description=desc,
                )
                results.append(timer.blocked_autorange(min_run_time=0.005))
    assert (results[0].label, results[0].sub_label, results[0].description, results[0].num_threads) == (
        "Batched dot",
        "[1, 1]",
        "mul/sum",
        1,
    )
    compare = benchmark.Compare(results)
    compare.trim_significant_figures()
    compare.colorize()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        compare.print()
    text = buf.getvalue()
    assert "Batched dot" in text and "mul/sum" in text and "bmm" in text and "[4, 4]" in text
    assert "1 threads:" in text and "2 threads:" in text


def profiler_recipe(torch, d):
    from importlib import import_module

    tp = import_module(torch.__name__ + ".profiler")
    profile, record_function, ProfilerActivity, schedule = (
        tp.profile,
        tp.record_function,
        tp.ProfilerActivity,
        tp.schedule,
    )
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    inputs = torch.ones(3, 8)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("model_inference"):
            model(inputs)
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    out = [table.splitlines()[1].split(), table.splitlines()[-1].split(":")[0]]
    names = {e.key for e in prof.key_averages()}
    out.append(sorted({"model_inference", "aten::addmm", "aten::relu"} & names))
    table = prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=10)
    out.append(table.splitlines()[1].split())
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True) as prof:
        model(inputs)
    out.append(prof.key_averages().table(sort_by="self_cpu_memory_usage", row_limit=10).splitlines()[1].split())
    path = os.path.join(d, "trace.json")
    prof.export_chrome_trace(path)
    with open(path) as f:
        trace = json.load(f)
    out.append(any(e.get("name") == "aten::addmm" for e in trace["traceEvents"]))
    steps = []

    def trace_handler(p):
        p.key_averages().table(sort_by="self_cpu_time_total", row_limit=-1)
        steps.append(p.step_num)

    with profile(
        activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=2), on_trace_ready=trace_handler
    ) as p:
        for _ in range(8):
            model(inputs)
            p.step()
    out += [steps, [schedule(wait=1, warmup=1, active=2)(i).name for i in range(5)]]
    return out


@pytest.mark.filterwarnings("ignore:Warning. Profiler clears events")
def test_profiler_recipe(tmp_path) -> None:
    got = profiler_recipe(backprop, str(tmp_path))
    assert got[1] == "Self CPU time total" and "model_inference" in got[2] and got[5]
    if real_torch is not None:
        assert got == profiler_recipe(real_torch, str(tmp_path))


# ------------------------------------------------------------------ autocast, tensors, reproducibility


def amp_recipe(torch, init=None):
    nn, F = torch.nn, torch.nn.functional
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    if init is not None:
        copy_state(init, net, torch)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    use_amp = True
    scaler = torch.amp.GradScaler("cpu", enabled=use_amp)
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((5, 8)).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
    dtypes, losses = [], []
    for _ in range(3):
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=use_amp):
            output = net(x)
            loss = F.mse_loss(output, y)
            dtypes.append((str(output.dtype).replace("torch.", ""), str(loss.dtype).replace("torch.", "")))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    checkpoint = {"model": net.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict()}
    scaler.load_state_dict(checkpoint["scaler"])
    off = torch.amp.GradScaler("cpu", enabled=False)
    return dtypes, scaler.get_scale(), sorted(checkpoint["scaler"]), off.scale(loss) is loss, losses, net


def test_autocast_cpu_recipe() -> None:
    got = amp_recipe(backprop)
    assert got[0] == [("bfloat16", "float32")] * 3
    if real_torch is not None:
        init = amp_recipe(real_torch)[5]
        t, ours = amp_recipe(real_torch, init), amp_recipe(backprop, init)
        assert ours[:4] == t[:4]
        np.testing.assert_allclose(ours[4], t[4], rtol=2e-2)


def tensor_recipe(torch):
    out = []
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    out.append(str(x_data))
    x_ones = torch.ones_like(x_data)
    out.append(f"Ones Tensor: \n {x_ones} \n")
    out.append(list(torch.rand_like(x_data, dtype=torch.float).shape))
    tensor = torch.ones(4, 4)
    out += [f"First row: {tensor[0]}", f"First column: {tensor[:, 0]}", f"Last column: {tensor[..., -1]}"]
    tensor[:, 1] = 0
    out.append(str(tensor))
    out += [list(torch.cat([tensor, tensor, tensor], dim=1).shape), list(torch.stack([tensor, tensor]).shape)]
    y1 = tensor @ tensor.T
    y3 = torch.rand_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)
    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    out += [str(y1), str(y3), str(z3)]
    agg_item = tensor.sum().item()
    out.append((agg_item, type(agg_item).__name__))
    tensor.add_(5)
    out.append(str(tensor))
    t = torch.ones(5)
    n = t.numpy()
    t.add_(1)
    out.append(n.tolist())
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    out.append(t.tolist())
    a = np.array([1.0, 2.0])
    b, c = torch.tensor(a), torch.as_tensor(a)
    a[0] = 9
    out += [b.tolist(), c.tolist()]
    x = torch.arange(12).view(3, 4)
    out += [str(x[x > 5]), str(x[[0, 2]]), str(x[:, [1, 3]]), str(torch.linspace(0, 1, 5))]
    return out


def test_tensor_recipe() -> None:
    _need_torch()
    assert tensor_recipe(backprop) == tensor_recipe(real_torch)


def reproducibility_recipe(torch, loader):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    torch.use_deterministic_algorithms(True)
    out = [torch.are_deterministic_algorithms_enabled()]
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    out.append(torch.backends.cudnn.benchmark)

    def seed_worker(worker_id):
        worker_seed = torch.initial_seed() % 2**32
        np.random.seed(worker_seed)
        random.seed(worker_seed)

    g = torch.Generator()

    def run():
        g.manual_seed(0)
        dl = loader(list(range(10)), batch_size=3, num_workers=2, worker_init_fn=seed_worker, generator=g, shuffle=True)
        return [b.tolist() for b in dl]

    first = run()
    out += [first == run(), sorted(sum(first, [])), torch.initial_seed()]
    torch.manual_seed(3)
    r1 = torch.rand(3)
    torch.manual_seed(3)
    out.append(torch.equal(r1, torch.rand(3)))
    return out


def test_reproducibility_recipe() -> None:
    from backprop.utils.data import DataLoader

    got = reproducibility_recipe(backprop, DataLoader)
    assert got == [True, False, True, list(range(10)), 0, True]
    assert not backprop.are_deterministic_algorithms_enabled()


# ------------------------------------------------------------------ parametrize, prune


def parametrize_recipe(torch):
    from importlib import import_module

    nn = torch.nn
    parametrize = import_module(torch.__name__ + ".nn.utils.parametrize")

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

        def right_inverse(self, A):
            return A.triu()

    class Skew(nn.Module):
        def forward(self, X):
            A = X.triu(1)
            return A - A.transpose(-1, -2)

    class MatrixExponential(nn.Module):
        def forward(self, X):
            return torch.matrix_exp(X)

    calls = []

    class NoisyParametrization(nn.Module):
        def forward(self, X):
            calls.append("Computing the Parametrization")
            return X

    out = []
    layer = nn.Linear(3, 3)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    A = layer.weight
    out += [torch.dist(A, A.T).item(), repr(layer).replace("torch.", "")]
    out += [type(layer.parametrizations).__name__, list(layer.parametrizations.weight.original.shape)]
    out += [parametrize.is_parametrized(layer), parametrize.is_parametrized(layer, "bias")]
    out += [sorted(layer.state_dict()), sorted(n for n, _ in layer.named_parameters())]
    layer2 = nn.Linear(3, 3)
    parametrize.register_parametrization(layer2, "weight", Skew())
    parametrize.register_parametrization(layer2, "weight", MatrixExponential())
    X = layer2.weight
    out += [torch.dist(X.T @ X, torch.eye(3)).item() < 1e-5, len(layer2.parametrizations.weight)]
    layer3 = nn.Linear(4, 4)
    parametrize.register_parametrization(layer3, "weight", NoisyParametrization())
    calls.clear()
    layer3.weight + layer3.weight.T
    with parametrize.cached():
        layer3.weight + layer3.weight.T
        layer3.weight.sum()
    out.append(len(calls))
    X = Symmetric()(torch.from_numpy(np.arange(9.0, dtype=np.float32).reshape(3, 3)))
    layer.weight = X
    out += [torch.allclose(layer.weight, X), layer.parametrizations.weight.original.tolist()]
    w = layer.weight.detach().clone()
    parametrize.remove_parametrizations(layer, "weight")
    out += [torch.equal(layer.weight, w), type(layer.weight).__name__, hasattr(layer, "parametrizations")]
    layer = nn.Linear(3, 3)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    orig = layer.parametrizations.weight.original.detach().clone()
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    out.append(torch.equal(layer.weight, orig))
    return out


def test_parametrize_recipe() -> None:
    got = parametrize_recipe(backprop)
    assert got[0] == 0.0 and got[10] == 3 and got[-1]  # 2 calls, then 1 under cached()
    if real_torch is not None:
        assert got == parametrize_recipe(real_torch)


def prune_recipe(torch):
    from importlib import import_module

    nn, F = torch.nn, torch.nn.functional
    prune = import_module(torch.__name__ + ".nn.utils.prune")

    class LeNet(nn.Module):
        def __init__(self):
            super(LeNet, self).__init__()
            self.conv1 = nn.Conv2d(1, 6, 3)
            self.conv2 = nn.Conv2d(6, 16, 3)
            self.fc1 = nn.Linear(16 * 5 * 5, 12)
            self.fc2 = nn.Linear(12, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, int(x.nelement() / x.shape[0]))
            return self.fc2(F.relu(self.fc1(x)))

    out = []
    model = LeNet()
    module = model.conv1
    prune.random_unstructured(module, name="weight", amount=0.3)
    out += [sorted(n for n, _ in module.named_parameters()), [n for n, _ in module.named_buffers()]]
    out += [int((module.weight == 0).sum()), type(module._forward_pre_hooks).__name__, len(module._forward_pre_hooks)]
    prune.l1_unstructured(module, name="bias", amount=3)
    out += [[n for n, _ in module.named_buffers()], int((module.bias == 0).sum())]
    prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
    out.append(int((module.weight.abs().sum((1, 2, 3)) == 0).sum()))
    for hook in module._forward_pre_hooks.values():
        if hook._tensor_name == "weight":
            break
    out += [type(hook).__name__, [type(h).__name__ for h in hook]]
    out.append(sorted(model.state_dict()))
    prune.remove(module, "weight")
    out += [sorted(n for n, _ in module.named_parameters()), [n for n, _ in module.named_buffers()]]
    x = torch.ones(1, 1, 28, 28)
    out.append(list(model(x).shape))
    new_model = LeNet()
    for _name, m in new_model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            prune.l1_unstructured(m, name="weight", amount=0.2)
        elif isinstance(m, torch.nn.Linear):
            prune.l1_unstructured(m, name="weight", amount=0.4)
    out.append(list(dict(new_model.named_buffers()).keys()))
    model = LeNet()
    parameters_to_prune = [(m, "weight") for m in (model.conv1, model.conv2, model.fc1, model.fc2)]
    prune.global_unstructured(parameters_to_prune, pruning_method=prune.L1Unstructured, amount=0.2)
    tot = sum(float(m.weight.nelement()) for m, _ in parameters_to_prune)
    zeros = sum(float(torch.sum(m.weight == 0)) for m, _ in parameters_to_prune)
    out.append("Global sparsity: {:.2f}%".format(100.0 * zeros / tot))

    class FooBarPruningMethod(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    FooBarPruningMethod.apply(model.fc2, "bias")
    out.append(model.fc2.bias_mask.tolist())
    return out


def test_pruning_recipe() -> None:
    got = prune_recipe(backprop)
    assert got[2] == 16 and got[3] == "OrderedDict" and got[4] == 1
    if real_torch is not None:
        assert got == prune_recipe(real_torch)


def test_module_hook_tables() -> None:
    lin = backprop.nn.Linear(2, 2)
    assert len(lin._forward_pre_hooks) == len(lin._forward_hooks) == len(lin._backward_hooks) == 0

    def pre(m, a):
        return None

    h = lin.register_forward_pre_hook(pre)
    lin.register_forward_hook(lambda m, a, o: None)
    assert list(lin._forward_pre_hooks.values()) == [pre] and list(lin._forward_pre_hooks) == [h.id]
    assert len(lin._forward_hooks) == 1
    h.remove()
    assert len(lin._forward_pre_hooks) == 0


# ------------------------------------------------------------------ data, compile


def dataset_recipe(torch, Dataset, DataLoader):
    class FaceLandmarksDataset(Dataset):
        def __init__(self, data, transform=None):
            self.data = data
            self.transform = transform

        def __len__(self):
            return len(self.data)

        def __getitem__(self, idx):
            if torch.is_tensor(idx):
                idx = idx.tolist()
            image = self.data[idx]["image"]
            landmarks = np.array([self.data[idx]["landmarks"]]).astype("float").reshape(-1, 2)
            sample = {"image": image, "landmarks": landmarks}
            if self.transform:
                sample = self.transform(sample)
            return sample

    class RandomCrop(object):
        def __init__(self, output_size):
            self.output_size = (output_size, output_size)

        def __call__(self, sample):
            image, landmarks = sample["image"], sample["landmarks"]
            new_h, new_w = self.output_size
            top, left = 1, 1
            image = image[top : top + new_h, left : left + new_w]
            return {"image": image, "landmarks": landmarks - [left, top]}

    class ToTensor(object):
        def __call__(self, sample):
            image, landmarks = sample["image"], sample["landmarks"]
            image = image.transpose((2, 0, 1))
            return {"image": torch.from_numpy(image), "landmarks": torch.from_numpy(landmarks)}

    class Compose:
        def __init__(self, ts):
            self.ts = ts

        def __call__(self, s):
            for t in self.ts:
                s = t(s)
            return s

    rng = np.random.default_rng(0)
    raw = [{"image": rng.random((6, 6, 3)), "landmarks": rng.random(4).tolist()} for _ in range(5)]
    ds = FaceLandmarksDataset(raw, transform=Compose([RandomCrop(4), ToTensor()]))
    out = [len(ds), list(ds[0]["image"].shape), list(ds[torch.tensor(1)]["landmarks"].shape)]
    for i_batch, sample_batched in enumerate(DataLoader(ds, batch_size=2, shuffle=False, num_workers=0)):
        out.append((i_batch, list(sample_batched["image"].size()), list(sample_batched["landmarks"].size())))
        out.append(_np(sample_batched["landmarks"]).tolist())
    return out


def test_custom_dataset_recipe() -> None:
    from backprop.utils.data import DataLoader, Dataset

    got = dataset_recipe(backprop, Dataset, DataLoader)
    assert got[:3] == [5, [3, 4, 4], [2, 2]]
    if real_torch is not None:
        from torch.utils.data import DataLoader as TDL
        from torch.utils.data import Dataset as TDS

        assert got == dataset_recipe(real_torch, TDS, TDL)


def compile_recipe(torch):
    def foo(x, y):
        a = torch.sin(x)
        b = torch.cos(y)
        return a + b

    opt_foo1 = torch.compile(foo)
    x = torch.arange(20, dtype=torch.float32).reshape(10, 2) / 10
    out = [_np(opt_foo1(x, x)), _np(foo(x, x))]

    @torch.compile
    def opt_foo2(x, y):
        a = torch.sin(x)
        b = torch.cos(y)
        return a + b

    out.append(_np(opt_foo2(x, x)))

    class MyModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 3)

        def forward(self, x):
            return torch.nn.functional.relu(self.lin(x))

    mod = MyModule()
    with torch.no_grad():
        mod.lin.weight.copy_(torch.from_numpy(np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.3]], dtype=np.float32)))
        mod.lin.bias.fill_(0.1)
    opt_mod = torch.compile(mod)
    with torch.no_grad():
        out.append(_np(opt_mod(x)))
    mod.compile()
    with torch.no_grad():
        out.append(_np(mod(x)))
    torch._dynamo.reset()
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (torch._dynamo's import warns about torch.jit)
def test_compile_recipe() -> None:
    got = compile_recipe(backprop)
    np.testing.assert_allclose(got[0], got[1], rtol=1e-6)
    np.testing.assert_allclose(got[2], got[1], rtol=1e-6)
    np.testing.assert_allclose(got[3], got[4], rtol=1e-6)
    if real_torch is not None:
        for a, b in zip(got, compile_recipe(real_torch)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
