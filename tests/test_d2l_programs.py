"""The "Dive into Deep Learning" (d2l.ai) PyTorch code, run with ``backprop`` standing in for ``torch``.

Each program is written once, as a function of the library module, in the book's own idioms (``axis=``
keywords, ``.data`` writes, ``param -= ...`` under ``no_grad``, ``y_hat[range(len(y_hat)), y]``,
``self._modules[str(idx)] = module``, ``float(cmp.type(y.dtype).sum())``, ...). The few ``d2l`` helpers
used are defined here as the book defines them. Data are synthetic (NumPy), nothing is downloaded;
initial weights are copied from torch's model (state_dict -> numpy) so the two runs compare step by
step (random streams differ by design, README). Without torch the programs still run on backprop; the
comparisons are skipped.
"""

# The programs keep the book's spelling (type(m) == nn.Linear, super(Net, self), unused loop variables).
# ruff: noqa: B007, E711, E712, E721, E731, E741, UP034, N801, N802, N803, N806, N812, UP008

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import backprop

try:
    import torch as real_torch
except ImportError:  # pragma: no cover - the comparisons skip
    real_torch = None

needs_torch = pytest.mark.skipif(real_torch is None, reason="torch is not installed")
# torch 2.13 warns on float() of a tensor that requires grad (d2l's Accumulator does it); backprop does not
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad:UserWarning")


def _np(x):
    if isinstance(x, (list, tuple)):
        return [_np(v) for v in x]
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy().copy()
    return x


def _dt(dtype):
    """A dtype's name (ours are NumPy dtypes, README)."""
    return str(dtype).replace("torch.", "")


def _close(a, b, rtol=1e-4, atol=1e-5, path="out"):
    """Compare nested results: arrays by value, dtype and shape; other values exactly (floats closely)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], rtol, atol, f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, rtol, atol, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), path
        assert a.shape == b.shape, (path, a.shape, b.shape)
        assert a.dtype == b.dtype, (path, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=path)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=rtol, abs=atol), path
    else:
        assert a == b, (path, a, b)


def _state(net):
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def _load(torch, net, state):
    if state is not None:
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})


def _compare(program, *args, rtol=1e-4, atol=1e-5, **kwargs):
    """Run on backprop (with torch's initial state when torch is there) and compare with torch."""
    if real_torch is None:
        return program(backprop, None, *args, **kwargs)
    ref = program(real_torch, None, *args, **kwargs)
    out = program(backprop, ref.pop("init", None), *args, **kwargs)
    out.pop("init", None)
    _close(ref, out, rtol, atol)
    return out


# ------------------------------------------------------------------ the d2l helpers, as the book writes them


class Accumulator:
    """For accumulating sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def d2l_helpers(torch):
    nn = torch.nn
    data = torch.utils.data

    def synthetic_data(w, b, num_examples):
        """Generate y = Xw + b + noise."""
        X = torch.normal(0, 1, (num_examples, len(w)))
        y = torch.matmul(X, w) + b
        y += torch.normal(0, 0.01, y.shape)
        return X, y.reshape((-1, 1))

    def linreg(X, w, b):
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    def load_array(data_arrays, batch_size, is_train=True):
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    def accuracy(y_hat, y):
        if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
            y_hat = y_hat.argmax(axis=1)
        cmp = y_hat.type(y.dtype) == y
        return float(cmp.type(y.dtype).sum())

    def evaluate_accuracy(net, data_iter):
        if isinstance(net, torch.nn.Module):
            net.eval()
        metric = Accumulator(2)
        with torch.no_grad():
            for X, y in data_iter:
                metric.add(accuracy(net(X), y), y.numel())
        return metric[0] / metric[1]

    def train_epoch_ch3(net, train_iter, loss, updater):
        if isinstance(net, torch.nn.Module):
            net.train()
        metric = Accumulator(3)
        for X, y in train_iter:
            y_hat = net(X)
            l = loss(y_hat, y)
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.mean().backward()
                updater.step()
            else:
                l.sum().backward()
                updater(X.shape[0])
            metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        return metric[0] / metric[2], metric[1] / metric[2]

    def evaluate_loss(net, data_iter, loss):
        metric = Accumulator(2)
        for X, y in data_iter:
            out = net(X)
            y = y.reshape(out.shape)
            l = loss(out, y)
            metric.add(l.sum(), l.numel())
        return metric[0] / metric[1]

    def try_gpu(i=0):
        if torch.cuda.device_count() >= i + 1:
            return torch.device(f"cuda:{i}")
        return torch.device("cpu")

    def try_all_gpus():
        devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
        return devices if devices else [torch.device("cpu")]

    def corr2d(X, K):
        h, w = K.shape
        Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (X[i : i + h, j : j + w] * K).sum()
        return Y

    def evaluate_accuracy_gpu(net, data_iter, device=None):
        if isinstance(net, nn.Module):
            net.eval()
            if not device:
                device = next(iter(net.parameters())).device
        metric = Accumulator(2)
        with torch.no_grad():
            for X, y in data_iter:
                if isinstance(X, list):
                    X = [x.to(device) for x in X]
                else:
                    X = X.to(device)
                y = y.to(device)
                metric.add(accuracy(net(X), y), y.numel())
        return metric[0] / metric[1]

    return dict(locals())


def _images(n=32, size=28, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 1, size, size), dtype=np.float32)
    y = rng.integers(0, classes, size=n)
    return X, y


# ------------------------------------------------------------------ 3.2 / 3.3 linear regression


def linreg_scratch(torch, init):
    d = d2l_helpers(torch)
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    features, labels = d["synthetic_data"](true_w, true_b, 100)
    out = {"shapes": (tuple(features.shape), tuple(labels.shape), _dt(features.dtype), _dt(labels.dtype))}
    rng = np.random.default_rng(1)
    Xn = rng.normal(0, 1, (100, 2)).astype(np.float32)
    features = torch.from_numpy(Xn)
    labels = (torch.matmul(features, true_w) + true_b).reshape((-1, 1))

    def data_iter(batch_size, features, labels):
        num_examples = len(features)
        indices = list(range(num_examples))
        random.shuffle(indices)
        for i in range(0, num_examples, batch_size):
            batch_indices = torch.tensor(indices[i : min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]

    batch_size = 10
    for X, y in data_iter(batch_size, features, labels):
        out["first_batch"] = (tuple(X.shape), tuple(y.shape))
        break
    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    with torch.no_grad():
        w.copy_(torch.tensor([[0.01], [-0.02]]))
    lr, num_epochs = 0.03, 3
    net, loss = d["linreg"], d["squared_loss"]
    random.seed(0)
    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)
            l.sum().backward()
            d["sgd"]([w, b], lr, batch_size)
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            losses.append(float(f"{float(train_l.mean()):f}"))
    out["losses"] = losses
    out["w_err"] = _np(true_w - w.reshape(true_w.shape))
    out["b_err"] = _np(true_b - b)
    out["b_err_repr"] = f"{true_b - b}".split("(")[0]
    out["w"], out["b"] = _np(w), _np(b)
    return out


def linreg_concise(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    rng = np.random.default_rng(2)
    true_w = torch.tensor([2, -3.4])
    true_b = 4.2
    features = torch.from_numpy(rng.normal(0, 1, (100, 2)).astype(np.float32))
    labels = (torch.matmul(features, true_w) + true_b).reshape((-1, 1))
    batch_size = 10
    out = {}
    data_iter = d["load_array"]((features, labels), batch_size)
    X, y = next(iter(data_iter))
    out["batch"] = (tuple(X.shape), tuple(y.shape), _dt(X.dtype))
    data_iter = d["load_array"]((features, labels), batch_size, is_train=False)
    net = nn.Sequential(nn.Linear(2, 1))
    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)
    out["bias0"] = _np(net[0].bias)
    if init is None:
        out["init"] = _state(net)
    _load(torch, net, init)
    loss = nn.MSELoss()
    trainer = torch.optim.SGD(net.parameters(), lr=0.03)
    num_epochs = 3
    out["log"] = []
    for epoch in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        l = loss(net(features), labels)
        out["log"].append(float(f"{l:f}"))
    w = net[0].weight.data
    out["w_err"] = _np(true_w - w.reshape(true_w.shape))
    b = net[0].bias.data
    out["b_err"] = _np(true_b - b)
    return out


@needs_torch
def test_linear_regression_scratch():
    _compare(linreg_scratch)


def test_linear_regression_concise():
    out = _compare(linreg_concise)
    assert out["bias0"].tolist() == [0.0]


# ------------------------------------------------------------------ 3.6 / 3.7 softmax regression


def softmax_scratch(torch, init):
    d = d2l_helpers(torch)
    out = {}
    X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out["sums"] = _np([X.sum(0, keepdim=True), X.sum(1, keepdim=True)])

    def softmax(X):
        X_exp = torch.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition

    X_prob = softmax(torch.from_numpy(np.random.default_rng(0).normal(0, 1, (2, 5)).astype(np.float32)))
    out["prob"] = _np([X_prob, X_prob.sum(1)])
    y = torch.tensor([0, 2])
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    out["pick"] = _np(y_hat[[0, 1], y])

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    out["ce"] = _np(cross_entropy(y_hat, y))
    out["acc"] = d["accuracy"](y_hat, y) / len(y)

    Xn, yn = _images(40)
    train_iter = d["load_array"]((torch.from_numpy(Xn), torch.from_numpy(yn)), 16, is_train=False)
    num_inputs, num_outputs = 784, 10
    W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)
    with torch.no_grad():
        W.copy_(torch.from_numpy(np.random.default_rng(3).normal(0, 0.01, (784, 10)).astype(np.float32)))

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

    out["acc0"] = d["evaluate_accuracy"](net, train_iter)
    lr = 0.1

    def updater(batch_size):
        return d["sgd"]([W, b], lr, batch_size)

    out["epochs"] = [d["train_epoch_ch3"](net, train_iter, cross_entropy, updater) for _ in range(2)]
    out["W"], out["b"] = _np(W), _np(b)
    # predict_ch3
    for X, y in train_iter:
        break
    trues = [int(v) for v in y]
    preds = [int(v) for v in net(X).argmax(axis=1)]
    out["preds"] = (trues[:6], preds[:6])
    return out


def softmax_concise(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    Xn, yn = _images(40)
    train_iter = d["load_array"]((torch.from_numpy(Xn), torch.from_numpy(yn)), 16, is_train=False)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)
    out = {}
    if init is None:
        out["init"] = _state(net)
    _load(torch, net, init)
    loss = nn.CrossEntropyLoss(reduction="none")
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    out["epochs"] = [d["train_epoch_ch3"](net, train_iter, loss, trainer) for _ in range(2)]
    out["test_acc"] = d["evaluate_accuracy"](net, train_iter)
    out["state"] = _state(net)
    return out


@needs_torch
def test_softmax_regression_scratch():
    _compare(softmax_scratch)


def test_softmax_regression_concise():
    _compare(softmax_concise)


# ------------------------------------------------------------------ 4.2 MLP from scratch, 4.5 weight decay, 4.6 dropout


def mlp_scratch(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    Xn, yn = _images(40)
    train_iter = d["load_array"]((torch.from_numpy(Xn), torch.from_numpy(yn)), 16, is_train=False)
    num_inputs, num_outputs, num_hiddens = 784, 10, 32
    W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens, requires_grad=True) * 0.01)
    b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
    W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs, requires_grad=True) * 0.01)
    b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))
    params = [W1, b1, W2, b2]
    out = {"kinds": [(type(p).__name__, p.is_leaf, p.requires_grad, tuple(p.shape)) for p in params]}
    rng = np.random.default_rng(4)
    with torch.no_grad():
        for p in params:
            p.copy_(torch.from_numpy(rng.normal(0, 0.1, tuple(p.shape)).astype(np.float32)))

    def relu(X):
        a = torch.zeros_like(X)
        return torch.max(X, a)

    def net(X):
        X = X.reshape((-1, num_inputs))
        H = relu(X @ W1 + b1)  # Here '@' stands for matrix multiplication
        return H @ W2 + b2

    loss = nn.CrossEntropyLoss(reduction="none")
    num_epochs, lr = 2, 0.1
    updater = torch.optim.SGD(params, lr=lr)
    out["epochs"] = [d["train_epoch_ch3"](net, train_iter, loss, updater) for _ in range(num_epochs)]
    out["test_acc"] = d["evaluate_accuracy"](net, train_iter)
    out["params"] = _np(params)
    out["relu"] = _np(relu(torch.tensor([[-1.0, 2.0], [0.5, -0.0]])))
    return out


def weight_decay(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    n_train, n_test, num_inputs, batch_size = 20, 40, 50, 5
    true_w, true_b = torch.ones((num_inputs, 1)) * 0.01, 0.05
    train_data = d["synthetic_data"](true_w, true_b, n_train)
    out = {"shapes": [tuple(t.shape) for t in train_data]}
    rng = np.random.default_rng(5)

    def make(n):
        X = torch.from_numpy(rng.normal(0, 1, (n, num_inputs)).astype(np.float32))
        return X, (torch.matmul(X, true_w) + true_b).reshape((-1, 1))

    train_data, test_data = make(n_train), make(n_test)
    train_iter = d["load_array"](train_data, batch_size, is_train=False)
    test_iter = d["load_array"](test_data, batch_size, is_train=False)
    w0 = rng.normal(0, 1, (num_inputs, 1)).astype(np.float32)

    def init_params():
        w = torch.normal(0, 1, size=(num_inputs, 1), requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        with torch.no_grad():
            w.copy_(torch.from_numpy(w0))
        return [w, b]

    def l2_penalty(w):
        return torch.sum(w.pow(2)) / 2

    def train(lambd):
        w, b = init_params()
        net, loss = lambda X: d["linreg"](X, w, b), d["squared_loss"]
        num_epochs, lr = 5, 0.003
        hist = []
        for epoch in range(num_epochs):
            for X, y in train_iter:
                # The L2 norm penalty term has been added, and broadcasting
                # makes l2_penalty(w) a vector whose length is batch_size
                l = loss(net(X), y) + lambd * l2_penalty(w)
                l.sum().backward()
                d["sgd"]([w, b], lr, batch_size)
            hist.append((d["evaluate_loss"](net, train_iter, loss), d["evaluate_loss"](net, test_iter, loss)))
        return hist, torch.norm(w).item()

    out["scratch"] = [train(lambd=0), train(lambd=3)]

    def train_concise(wd):
        net = nn.Sequential(nn.Linear(num_inputs, 1))
        for param in net.parameters():
            param.data.normal_()
        with torch.no_grad():
            net[0].weight.copy_(torch.from_numpy(w0.T.copy()))
            net[0].bias.zero_()
        loss = nn.MSELoss(reduction="none")
        num_epochs, lr = 5, 0.003
        # The bias parameter has not decayed
        trainer = torch.optim.SGD([{"params": net[0].weight, "weight_decay": wd}, {"params": net[0].bias}], lr=lr)
        hist = []
        for epoch in range(num_epochs):
            for X, y in train_iter:
                trainer.zero_grad()
                l = loss(net(X), y)
                l.mean().backward()
                trainer.step()
            hist.append((d["evaluate_loss"](net, train_iter, loss), d["evaluate_loss"](net, test_iter, loss)))
        return hist, net[0].weight.norm().item(), [g["weight_decay"] for g in trainer.param_groups]

    out["concise"] = [train_concise(0), train_concise(3)]
    return out


def dropout_scratch(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn

    def dropout_layer(X, dropout):
        assert 0 <= dropout <= 1
        # In this case, all elements are dropped out
        if dropout == 1:
            return torch.zeros_like(X)
        # In this case, all elements are kept
        if dropout == 0:
            return X
        mask = (torch.rand(X.shape) > dropout).float()
        return mask * X / (1.0 - dropout)

    X = torch.arange(16, dtype=torch.float32).reshape((2, 8))
    out = {"d0": _np(dropout_layer(X, 0.0)), "d1": _np(dropout_layer(X, 1.0))}
    half = dropout_layer(X, 0.5)
    out["half"] = (tuple(half.shape), _dt(half.dtype), bool(((half == 0) | (half == 2 * X)).all()))
    big = dropout_layer(torch.ones(200, 100), 0.25)
    out["keep"] = abs(float((big != 0).float().mean()) - 0.75) < 0.02
    out["scale"] = sorted({round(v, 4) for v in big.flatten().tolist()})

    num_inputs, num_outputs, num_hiddens1, num_hiddens2 = 784, 10, 32, 16
    dropout1, dropout2 = 0.2, 0.5

    class Net(nn.Module):
        def __init__(self, num_inputs, num_outputs, num_hiddens1, num_hiddens2, is_training=True):
            super(Net, self).__init__()
            self.num_inputs = num_inputs
            self.training = is_training
            self.lin1 = nn.Linear(num_inputs, num_hiddens1)
            self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
            self.lin3 = nn.Linear(num_hiddens2, num_outputs)
            self.relu = nn.ReLU()

        def forward(self, X):
            H1 = self.relu(self.lin1(X.reshape((-1, self.num_inputs))))
            # Use dropout only when training the model
            if self.training == True:
                # Add a dropout layer after the first fully connected layer
                H1 = dropout_layer(H1, dropout1)
            H2 = self.relu(self.lin2(H1))
            if self.training == True:
                # Add a dropout layer after the second fully connected layer
                H2 = dropout_layer(H2, dropout2)
            out = self.lin3(H2)
            return out

    net = Net(num_inputs, num_outputs, num_hiddens1, num_hiddens2)
    if init is None:
        out["init"] = _state(net)
    _load(torch, net, init)
    state0 = _state(net)
    Xn, yn = _images(40)
    train_iter = d["load_array"]((torch.from_numpy(Xn), torch.from_numpy(yn)), 16, is_train=False)
    loss = nn.CrossEntropyLoss(reduction="none")
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    train_l, train_acc = d["train_epoch_ch3"](net, train_iter, loss, trainer)
    _load(torch, net, state0)  # the masks differ by design: compare the deterministic eval pass
    out["train_finite"] = math.isfinite(train_l)
    out["training_after_eval"] = (d["evaluate_accuracy"](net, train_iter) >= 0, net.training)
    # the concise net in eval mode is deterministic
    net2 = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 32),
        nn.ReLU(),
        nn.Dropout(dropout1),
        nn.Linear(32, 16),
        nn.ReLU(),
        nn.Dropout(dropout2),
        nn.Linear(16, 10),
    )
    sd = net.state_dict()
    net2.load_state_dict(
        {f"{j}.{p}": sd[f"lin{i}.{p}"] for i, j in ((1, 1), (2, 4), (3, 7)) for p in ("weight", "bias")}
    )
    net2.eval()
    out["eval"] = _np(net2(torch.from_numpy(Xn[:4])))
    net.eval()
    out["eval_scratch"] = _np(net(torch.from_numpy(Xn[:4])))
    return out


@needs_torch
def test_mlp_scratch():
    _compare(mlp_scratch)


@needs_torch
def test_weight_decay():
    _compare(weight_decay)


def test_dropout_scratch():
    out = _compare(dropout_scratch)
    assert out["keep"] and out["scale"] == [0.0, round(1 / 0.75, 4)]
    np.testing.assert_array_equal(out["eval"], out["eval_scratch"])


# ---------------------------------------- 4.8 numerical stability and initialization, 5.2 parameters


def stability_and_init(torch, init):
    nn = torch.nn
    out = {}
    x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    y = torch.sigmoid(x)
    y.backward(torch.ones_like(x))
    out["sigmoid"] = (_np(x), _np(y), _np(x.grad))
    M = torch.normal(0, 1, size=(4, 4))
    for i in range(100):
        M = torch.mm(M, torch.normal(0, 1, size=(4, 4)))
    out["M"] = (tuple(M.shape), _dt(M.dtype))

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    X = torch.rand(size=(2, 4))
    out["net_out"] = tuple(net(X).shape)

    def init_normal(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.zeros_(m.bias)

    net.apply(init_normal)
    out["normal"] = (float(net[0].weight.data[0].abs().max()) < 0.1, _np(net[0].bias.data[0]))

    def init_constant(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 1)
            nn.init.zeros_(m.bias)

    net.apply(init_constant)
    out["constant"] = (_np(net[0].weight.data[0]), _np(net[0].bias.data[0]))

    def init_xavier(m):
        if type(m) == nn.Linear:
            nn.init.xavier_uniform_(m.weight)

    def init_42(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 42)

    net[0].apply(init_xavier)
    net[2].apply(init_42)
    bound = math.sqrt(6 / (4 + 8))
    out["xavier"] = bool((net[0].weight.data.abs() <= bound).all()), _np(net[2].weight.data)

    names = []

    def my_init(m):
        if type(m) == nn.Linear:
            names.append(("Init", *[(name, param.shape) for name, param in m.named_parameters()][0]))
            nn.init.uniform_(m.weight, -10, 10)
            m.weight.data *= m.weight.data.abs() >= 5

    net.apply(my_init)
    w = net[0].weight
    out["my_init"] = [(a, b, tuple(c)) for a, b, c in names], bool(((w == 0) | (w.abs() >= 5)).all())
    out["my_init_dtype"] = _dt(w.dtype)
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    out["edits"] = float(net[0].weight.data[0][0]), w.is_leaf, w.requires_grad
    return out


def parameters_and_blocks(torch, init):
    nn = torch.nn
    F = torch.nn.functional
    out = {}
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    X = torch.from_numpy(np.random.default_rng(6).random((2, 4), dtype=np.float32))
    if init is None:
        out["init"] = _state(net)
    else:
        _load(torch, net, {k: v for k, v in init.items() if k[0].isdigit()})
    out["net"] = _np(net(X))
    sd = net[2].state_dict()
    out["sd"] = (list(sd), _np(list(sd.values())), type(sd).__name__)
    out["bias"] = (type(net[2].bias).__name__, _np(net[2].bias.data), repr(net[2].bias).startswith("Parameter"))
    out["grad_none"] = net[2].weight.grad == None  # noqa: E711 - the book's spelling
    out["named0"] = [(name, tuple(param.shape)) for name, param in net[0].named_parameters()]
    out["named"] = [(name, tuple(param.shape)) for name, param in net.named_parameters()]
    out["star"] = str(tuple((name, param.shape) for name, param in net.named_parameters())).replace("torch.", "")
    out["sd_bias"] = _np(net.state_dict()["2.bias"].data)

    def block1():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())

    def block2():
        net = nn.Sequential()
        for i in range(4):
            # Nested here
            net.add_module(f"block {i}", block1())
        return net

    rgnet = nn.Sequential(block2(), nn.Linear(4, 1))
    out["rgnet_repr"] = repr(rgnet)
    out["rgnet_shape"] = tuple(rgnet(X).shape)
    out["rgnet_bias"] = tuple(rgnet[0][1][0].bias.data.shape)

    # shared layers
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))
    if init is None:
        out["init"].update({"s." + k: v for k, v in _state(net).items()})
    else:
        _load(torch, net, {k[2:]: v for k, v in init.items() if k.startswith("s.")})
    net(X)
    # Check whether the parameters are the same
    out["same"] = _np(net[2].weight.data[0] == net[4].weight.data[0])
    net[2].weight.data[0, 0] = 100
    # Make sure that they are actually the same object rather than just having the same value
    out["same2"] = _np(net[2].weight.data[0] == net[4].weight.data[0])
    out["n_params"] = len(list(net.parameters())), len(net.state_dict())
    net(X).sum().backward()
    out["shared_grad"] = _np(net[2].weight.grad)

    # 5.1 layers and blocks
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(20, 256)
            self.out = nn.Linear(256, 10)

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self._modules[str(idx)] = module

        def forward(self, X):
            for block in self._modules.values():
                X = block(X)
            return X

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            # Random weight parameters that will not compute gradients and
            # therefore keep constant during training
            self.rand_weight = torch.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(torch.mm(X, self.rand_weight) + 1)
            # Reuse the fully connected layer. This is equivalent to sharing
            # parameters with two fully connected layers
            X = self.linear(X)
            # Control flow
            while X.abs().sum() > 1:
                X /= 2
            return X.sum()

    class NestMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
            self.linear = nn.Linear(32, 16)

        def forward(self, X):
            return self.linear(self.net(X))

    X20 = torch.from_numpy(np.random.default_rng(7).random((2, 20), dtype=np.float32))
    mlp = MLP()
    myseq = MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    chimera = nn.Sequential(NestMLP(), nn.Linear(16, 20), FixedHiddenMLP())
    with torch.no_grad():
        chimera[2].rand_weight[:] = torch.from_numpy(np.random.default_rng(8).random((20, 20), dtype=np.float32))
    for key, m in (("mlp", mlp), ("myseq", myseq), ("chimera", chimera)):
        if init is None:
            out["init"].update({key + "." + k: v for k, v in _state(m).items()})
        else:
            _load(torch, m, {k[len(key) + 1 :]: v for k, v in init.items() if k.startswith(key + ".")})
    out["mlp"] = _np(mlp(X20))
    out["myseq"] = _np(myseq(X20))
    out["myseq_params"] = [name for name, _ in myseq.named_parameters()]
    out["myseq_repr"] = repr(myseq).replace("MySequential", "M")
    y = chimera(X20)
    out["chimera"] = (_np(y), tuple(y.shape))
    y.backward()
    out["chimera_grad"] = _np(chimera[0].linear.weight.grad)
    out["chimera_sd"] = sorted(chimera.state_dict())

    # 5.4 custom layers
    class CenteredLayer(nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, X):
            return X - X.mean()

    layer = CenteredLayer()
    out["centered"] = _np(layer(torch.FloatTensor([1, 2, 3, 4, 5])))

    class MyLinear(nn.Module):
        def __init__(self, in_units, units):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(in_units, units))
            self.bias = nn.Parameter(torch.randn(units))

        def forward(self, X):
            linear = torch.matmul(X, self.weight.data) + self.bias.data
            return F.relu(linear)

    linear = MyLinear(5, 3)
    y = linear(torch.rand(2, 5))
    out["mylinear"] = (tuple(y.shape), y.requires_grad, list(dict(linear.named_parameters())))
    net = nn.Sequential(CenteredLayer(), nn.Linear(8, 128), CenteredLayer())
    Y = net(torch.rand(4, 8))
    out["centered_mean"] = abs(Y.mean().item()) < 1e-5
    return out


def test_stability_and_init():
    out = _compare(stability_and_init)
    assert out["edits"][0] == 42.0


def test_parameters_and_blocks():
    _compare(parameters_and_blocks)


# ------------------------------------------------------------------ 5.5 file I/O, 5.6 GPUs


def file_io(torch, init, path):
    nn = torch.nn
    F = torch.nn.functional
    out = {}
    x = torch.arange(4)
    torch.save(x, path / "x-file")
    x2 = torch.load(path / "x-file")
    out["x2"] = _np(x2)
    y = torch.zeros(4)
    torch.save([x, y], path / "x-files")
    x2, y2 = torch.load(path / "x-files")
    out["xy"] = _np([x2, y2])
    mydict = {"x": x, "y": y}
    torch.save(mydict, str(path / "mydict"))
    mydict2 = torch.load(str(path / "mydict"))
    out["dict"] = _np(mydict2)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(20, 256)
            self.output = nn.Linear(256, 10)

        def forward(self, x):
            return self.output(F.relu(self.hidden(x)))

    net = MLP()
    X = torch.randn(size=(2, 20))
    Y = net(X)
    torch.save(net.state_dict(), path / "mlp.params")
    clone = MLP()
    res = clone.load_state_dict(torch.load(path / "mlp.params"))
    out["res"] = (list(res.missing_keys), list(res.unexpected_keys), str(res))
    out["eval"] = repr(clone.eval())
    Y_clone = clone(X)
    out["same"] = bool((Y_clone == Y).all()), tuple((Y_clone == Y).shape)
    return out


def test_file_io(tmp_path):
    if real_torch is None:
        file_io(backprop, None, tmp_path)
        return
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _close(file_io(real_torch, None, a), file_io(backprop, None, b))


def gpus(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    cpu, cuda, cuda1 = torch.device("cpu"), torch.device("cuda"), torch.device("cuda:1")
    # str(bp.device("cuda")) is "cuda:0" (devices carry their index), torch's "cuda"
    out = {"devices": [str(cpu), cuda.type, str(cuda1), cuda1.index, cuda == torch.device("cuda"), cuda == cpu]}
    out["count"] = torch.cuda.device_count()
    out["try"] = [str(d["try_gpu"]()), str(d["try_gpu"](10)), [str(v) for v in d["try_all_gpus"]()]]
    x = torch.tensor([1, 2, 3])
    out["x_device"] = str(x.device)
    X = torch.ones(2, 3, device=d["try_gpu"]())
    out["X_device"] = str(X.device)
    if torch.cuda.device_count() >= 2:  # pragma: no cover - the book's two-GPU cells
        Y = torch.rand(2, 3, device=d["try_gpu"](1))
        Z = X.cuda(1)
        out["sum"] = str((Y + Z).device)
        out["Z_is_Z"] = Z.cuda(1) is Z
    net = nn.Sequential(nn.Linear(3, 1))
    net = net.to(device=d["try_gpu"]())
    out["w_device"] = str(net[0].weight.data.device)
    out["eq"] = X.device == torch.device("cpu"), X.device.type, X.to(d["try_gpu"]()) is X
    return out


def test_gpus():
    if real_torch is None or backprop.cuda.device_count() != real_torch.cuda.device_count():
        gpus(backprop, None)
        return
    _compare(gpus)


# ------------------------------------------------------------------ 6.2 - 6.5 convolutions and pooling from scratch


def conv_scratch(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    corr2d = d["corr2d"]
    out = {}
    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    out["corr"] = _np(corr2d(X, K))

    class Conv2D(nn.Module):
        def __init__(self, kernel_size):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(kernel_size))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return corr2d(x, self.weight) + self.bias

    X = torch.ones((6, 8))
    X[:, 2:6] = 0
    K = torch.tensor([[1.0, -1.0]])
    Y = corr2d(X, K)
    out["edges"] = (_np(X), _np(Y), _np(corr2d(X.t(), K)))
    layer = Conv2D((1, 2))
    with torch.no_grad():
        layer.weight[:] = torch.tensor([[0.3, 0.6]])
    y = layer(X)
    y.sum().backward()
    out["Conv2D"] = (_np(y), _np(layer.weight.grad), _np(layer.bias.grad))

    # Construct a two-dimensional convolutional layer with 1 output channel and a
    # kernel of shape (1, 2). For the sake of simplicity, we ignore the bias here
    conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
    if init is None:
        out["init"] = _state(conv2d)
    _load(torch, conv2d, init)
    # The two-dimensional convolutional layer uses four-dimensional input and
    # output in the format of (example, channel, height, width), where the batch
    # size (number of examples in the batch) and the number of channels are both 1
    X = X.reshape((1, 1, 6, 8))
    Y = Y.reshape((1, 1, 6, 7))
    lr = 3e-2  # Learning rate
    log = []
    for i in range(10):
        Y_hat = conv2d(X)
        l = (Y_hat - Y) ** 2
        conv2d.zero_grad()
        l.sum().backward()
        # Update the kernel
        conv2d.weight.data[:] -= lr * conv2d.weight.grad
        if (i + 1) % 2 == 0:
            log.append(float(f"{l.sum():.3f}"))
    out["log"] = log
    out["kernel"] = _np(conv2d.weight.data.reshape((1, 2)))

    # 6.3 padding and stride
    def comp_conv2d(conv2d, X):
        # (1, 1) indicates that batch size and the number of channels are both 1
        X = X.reshape((1, 1) + X.shape)
        Y = conv2d(X)
        # Strip the first two dimensions: examples and channels
        return Y.reshape(Y.shape[2:])

    X = torch.rand(size=(8, 8))
    shapes = []
    for kw in (
        dict(kernel_size=3, padding=1),
        dict(kernel_size=(5, 3), padding=(2, 1)),
        dict(kernel_size=3, padding=1, stride=2),
        dict(kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)),
    ):
        conv2d = nn.Conv2d(1, 1, **kw)
        shapes.append(tuple(comp_conv2d(conv2d, X).shape))
    out["shapes"] = shapes

    # 6.4 multiple channels
    def corr2d_multi_in(X, K):
        # Iterate through the 0th dimension (channel) of K first, then add them up
        return sum(corr2d(x, k) for x, k in zip(X, K))

    X = torch.tensor(
        [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]
    )
    K = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    out["multi_in"] = _np(corr2d_multi_in(X, K))

    def corr2d_multi_in_out(X, K):
        # Iterate through the 0th dimension of K, and each time, perform
        # cross-correlation operations with input X. All of the results are
        # stacked together
        return torch.stack([corr2d_multi_in(X, k) for k in K], 0)

    K = torch.stack((K, K + 1, K + 2), 0)
    out["K_shape"] = tuple(K.shape)
    out["multi_out"] = _np(corr2d_multi_in_out(X, K))

    def corr2d_multi_in_out_1x1(X, K):
        c_i, h, w = X.shape
        c_o = K.shape[0]
        X = X.reshape((c_i, h * w))
        K = K.reshape((c_o, c_i))
        # Matrix multiplication in the fully connected layer
        Y = torch.matmul(K, X)
        return Y.reshape((c_o, h, w))

    X = torch.normal(0, 1, (3, 3, 3))
    K = torch.normal(0, 1, (2, 3, 1, 1))
    Y1 = corr2d_multi_in_out_1x1(X, K)
    Y2 = corr2d_multi_in_out(X, K)
    assert float(torch.abs(Y1 - Y2).sum()) < 1e-5

    # 6.5 pooling
    def pool2d(X, pool_size, mode="max"):
        p_h, p_w = pool_size
        Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                if mode == "max":
                    Y[i, j] = X[i : i + p_h, j : j + p_w].max()
                elif mode == "avg":
                    Y[i, j] = X[i : i + p_h, j : j + p_w].mean()
        return Y

    X = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    out["pool"] = _np([pool2d(X, (2, 2)), pool2d(X, (2, 2), "avg")])
    X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))
    pools = [nn.MaxPool2d(3), nn.MaxPool2d(3, padding=1, stride=2), nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))]
    out["pools"] = _np([pool(X) for pool in pools])
    X = torch.cat((X, X + 1), 1)
    pool2d = nn.MaxPool2d(3, padding=1, stride=2)
    out["pool_multi"] = _np(pool2d(X))
    return out


def test_conv_scratch():
    _compare(conv_scratch)


# ---------------------------------------- 7.6 LeNet, 8.5 batch normalization, 8.6 ResNet, 8.7 DenseNet


def lenet(torch, init, batch_norm_scratch=False, concise_bn=False):
    d = d2l_helpers(torch)
    nn = torch.nn
    out = {}

    def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
        # Use is_grad_enabled to determine whether we are in training mode
        if not torch.is_grad_enabled():
            # In prediction mode, use mean and variance obtained by moving average
            X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
        else:
            assert len(X.shape) in (2, 4)
            if len(X.shape) == 2:
                # When using a fully connected layer, calculate the mean and
                # variance on the feature dimension
                mean = X.mean(dim=0)
                var = ((X - mean) ** 2).mean(dim=0)
            else:
                # When using a two-dimensional convolutional layer, calculate the
                # mean and variance on the channel dimension (axis=1). Here we
                # need to maintain the shape of `X`, so that the broadcasting
                # operation can be carried out later
                mean = X.mean(dim=(0, 2, 3), keepdim=True)
                var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
            # In training mode, the current mean and variance are used
            X_hat = (X - mean) / torch.sqrt(var + eps)
            # Update the mean and variance using moving average
            moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
            moving_var = momentum * moving_var + (1.0 - momentum) * var
        Y = gamma * X_hat + beta  # Scale and shift
        return Y, moving_mean.data, moving_var.data

    class BatchNorm(nn.Module):
        # `num_features`: the number of outputs for a fully connected layer
        # or the number of output channels for a convolutional layer. `num_dims`:
        # 2 for a fully connected layer and 4 for a convolutional layer
        def __init__(self, num_features, num_dims):
            super().__init__()
            if num_dims == 2:
                shape = (1, num_features)
            else:
                shape = (1, num_features, 1, 1)
            # The scale parameter and the shift parameter (model parameters) are
            # initialized to 1 and 0, respectively
            self.gamma = nn.Parameter(torch.ones(shape))
            self.beta = nn.Parameter(torch.zeros(shape))
            # The variables that are not model parameters are initialized to 0 and 1
            self.moving_mean = torch.zeros(shape)
            self.moving_var = torch.ones(shape)

        def forward(self, X):
            # If `X` is not on the main memory, copy `moving_mean` and
            # `moving_var` to the device where `X` is located
            if self.moving_mean.device != X.device:
                self.moving_mean = self.moving_mean.to(X.device)
                self.moving_var = self.moving_var.to(X.device)
            # Save the updated `moving_mean` and `moving_var`
            Y, self.moving_mean, self.moving_var = batch_norm(
                X, self.gamma, self.beta, self.moving_mean, self.moving_var, eps=1e-5, momentum=0.9
            )
            return Y

    if batch_norm_scratch:
        net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), BatchNorm(6, num_dims=4), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), BatchNorm(16, num_dims=4), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
            nn.Linear(16 * 4 * 4, 120), BatchNorm(120, num_dims=2), nn.Sigmoid(),
            nn.Linear(120, 84), BatchNorm(84, num_dims=2), nn.Sigmoid(),
            nn.Linear(84, 10))  # fmt: skip
    elif concise_bn:
        net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
            nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
            nn.Linear(84, 10))  # fmt: skip
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))  # fmt: skip
        X = torch.rand(size=(1, 1, 28, 28), dtype=torch.float32)
        out["layers"] = []
        for layer in net:
            X = layer(X)
            out["layers"].append(f"{layer.__class__.__name__} output shape: \t{tuple(X.shape)}")

    Xn, yn = _images(48)
    train_iter = d["load_array"]((torch.from_numpy(Xn[:32]), torch.from_numpy(yn[:32])), 16, is_train=False)
    test_iter = d["load_array"]((torch.from_numpy(Xn[32:]), torch.from_numpy(yn[32:])), 16, is_train=False)

    def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
        """Train a model with a GPU (defined in Chapter 6)."""

        def init_weights(m):
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)

        net.apply(init_weights)
        if init is None:
            out["init"] = _state(net)
        _load(torch, net, init)
        net.to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss = nn.CrossEntropyLoss()
        num_batches = len(train_iter)
        hist = []
        for epoch in range(num_epochs):
            # Sum of training loss, sum of training accuracy, no. of examples
            metric = Accumulator(3)
            net.train()
            for i, (X, y) in enumerate(train_iter):
                optimizer.zero_grad()
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    metric.add(l * X.shape[0], d["accuracy"](y_hat, y), X.shape[0])
                train_l = metric[0] / metric[2]
                train_acc = metric[1] / metric[2]
                if (i + 1) % (num_batches // 2) == 0 or i == num_batches - 1:
                    hist.append((epoch + (i + 1) / num_batches, train_l, train_acc))
            test_acc = d["evaluate_accuracy_gpu"](net, test_iter)
            hist.append(test_acc)
        return hist

    out["hist"] = train_ch6(net, train_iter, test_iter, 2, 0.9, d["try_gpu"]())
    out["state"] = _state(net)
    if batch_norm_scratch:
        out["gamma"] = (_np(net[1].gamma.reshape((-1,))), _np(net[1].beta.reshape((-1,))))
        out["moving"] = _np([net[1].moving_mean, net[1].moving_var, net[10].moving_mean])
    return out


def test_lenet():
    _compare(lenet)


def test_batch_norm_scratch():
    _compare(lenet, batch_norm_scratch=True)


def test_batch_norm_concise():
    _compare(lenet, concise_bn=True)


def resnet_densenet(torch, init):
    nn = torch.nn
    F = torch.nn.functional
    out = {}

    class Residual(nn.Module):  # @save
        """The Residual block of ResNet."""

        def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
            if use_1x1conv:
                self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
            else:
                self.conv3 = None
            self.bn1 = nn.BatchNorm2d(num_channels)
            self.bn2 = nn.BatchNorm2d(num_channels)

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3:
                X = self.conv3(X)
            Y += X
            return F.relu(Y)

    blk = Residual(3, 3)
    X = torch.rand(4, 3, 6, 6)
    out["res_shape"] = tuple(blk(X).shape)
    blk = Residual(3, 6, use_1x1conv=True, strides=2)
    out["res_shape2"] = tuple(blk(X).shape)

    b1 = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )

    def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(num_channels, num_channels))
        return blk

    b2 = nn.Sequential(*resnet_block(8, 8, 2, first_block=True))
    b3 = nn.Sequential(*resnet_block(8, 16, 2))
    net = nn.Sequential(b1, b2, b3, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))
    X = torch.rand(size=(1, 1, 32, 32))
    out["res_layers"] = []
    for layer in net:
        X = layer(X)
        out["res_layers"].append((layer.__class__.__name__, tuple(X.shape)))

    def conv_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels), nn.ReLU(), nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1)
        )

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, input_channels, num_channels):
            super(DenseBlock, self).__init__()
            layer = []
            for i in range(num_convs):
                layer.append(conv_block(num_channels * i + input_channels, num_channels))
            self.net = nn.Sequential(*layer)

        def forward(self, X):
            for blk in self.net:
                Y = blk(X)
                # Concatenate the input and output of each block on the channel dimension
                X = torch.cat((X, Y), dim=1)
            return X

    def transition_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels),
            nn.ReLU(),
            nn.Conv2d(input_channels, num_channels, kernel_size=1),
            nn.AvgPool2d(kernel_size=2, stride=2),
        )

    dnet = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1),
        DenseBlock(2, 8, 4),
        transition_block(16, 8),
        DenseBlock(2, 8, 4),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    for key, m in (("res", net), ("dense", dnet)):
        if init is None:
            out.setdefault("init", {}).update({key + "." + k: v for k, v in _state(m).items()})
        else:
            _load(torch, m, {k[len(key) + 1 :]: v for k, v in init.items() if k.startswith(key + ".")})
    Xn, yn = _images(8, size=16)
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
    for key, m in (("res", net), ("dense", dnet)):
        trainer = torch.optim.SGD(m.parameters(), lr=0.05)
        losses = []
        for step in range(3):
            m.train()
            trainer.zero_grad()
            l = F.cross_entropy(m(X), y)
            l.backward()
            trainer.step()
            losses.append(l.item())
        m.eval()
        with torch.no_grad():
            out[key] = (losses, _np(m(X)), _state(m))
    return out


def test_resnet_densenet():
    _compare(resnet_densenet, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ 9.5 RNN from scratch, 9.6 concise RNNs


class Vocab:
    """Vocabulary for text (characters here)."""

    def __init__(self, tokens):
        self.idx_to_token = ["<unk>"] + sorted(set(tokens))
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, 0)
        return [self.__getitem__(token) for token in tokens]


TEXT = "the time machine by h g wells the time traveller for so it will be convenient to speak of him " * 3


def rnn_programs(torch, init, kind="scratch"):
    nn = torch.nn
    F = torch.nn.functional
    out = {}
    vocab = Vocab(list(TEXT))
    corpus = [vocab[token] for token in TEXT]
    out["one_hot"] = _np(F.one_hot(torch.tensor([0, 2]), len(vocab)))

    def seq_data_iter_sequential(corpus, batch_size, num_steps):
        """Generate a minibatch of subsequences using sequential partitioning."""
        # Start with a random offset to partition a sequence
        offset = random.randint(0, num_steps)
        num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
        Xs = torch.tensor(corpus[offset : offset + num_tokens])
        Ys = torch.tensor(corpus[offset + 1 : offset + 1 + num_tokens])
        Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
        num_batches = Xs.shape[1] // num_steps
        for i in range(0, num_steps * num_batches, num_steps):
            X = Xs[:, i : i + num_steps]
            Y = Ys[:, i : i + num_steps]
            yield X, Y

    def get_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size

        def normal(shape):
            return torch.randn(size=shape, device=device) * 0.01

        # Hidden layer parameters
        W_xh = normal((num_inputs, num_hiddens))
        W_hh = normal((num_hiddens, num_hiddens))
        b_h = torch.zeros(num_hiddens, device=device)
        # Output layer parameters
        W_hq = normal((num_hiddens, num_outputs))
        b_q = torch.zeros(num_outputs, device=device)
        # Attach gradients
        params = [W_xh, W_hh, b_h, W_hq, b_q]
        rng = np.random.default_rng(9)
        for param in params:
            with torch.no_grad():
                param.copy_(torch.from_numpy(rng.normal(0, 0.1, tuple(param.shape)).astype(np.float32)))
            param.requires_grad_(True)
        return params

    def init_rnn_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    def rnn(inputs, state, params):
        # Here `inputs` shape: (`num_steps`, `batch_size`, `vocab_size`)
        W_xh, W_hh, b_h, W_hq, b_q = params
        (H,) = state
        outputs = []
        # Shape of `X`: (`batch_size`, `vocab_size`)
        for X in inputs:
            H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
            Y = torch.mm(H, W_hq) + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H,)

    class RNNModelScratch:
        """A RNN Model implemented from scratch."""

        def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
            self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
            self.params = get_params(vocab_size, num_hiddens, device)
            self.init_state, self.forward_fn = init_state, forward_fn

        def __call__(self, X, state):
            X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
            return self.forward_fn(X, state, self.params)

        def begin_state(self, batch_size, device):
            return self.init_state(batch_size, self.num_hiddens, device)

    class RNNModel(nn.Module):
        """The RNN model."""

        def __init__(self, rnn_layer, vocab_size, **kwargs):
            super(RNNModel, self).__init__(**kwargs)
            self.rnn = rnn_layer
            self.vocab_size = vocab_size
            self.num_hiddens = self.rnn.hidden_size
            # If the RNN is bidirectional (to be introduced later),
            # `num_directions` should be 2, else it should be 1.
            if not self.rnn.bidirectional:
                self.num_directions = 1
                self.linear = nn.Linear(self.num_hiddens, self.vocab_size)
            else:
                self.num_directions = 2
                self.linear = nn.Linear(self.num_hiddens * 2, self.vocab_size)

        def forward(self, inputs, state):
            X = F.one_hot(inputs.T.long(), self.vocab_size)
            X = X.to(torch.float32)
            Y, state = self.rnn(X, state)
            # The fully connected layer will first change the shape of `Y` to
            # (`num_steps` * `batch_size`, `num_hiddens`). Its output shape is
            # (`num_steps` * `batch_size`, `vocab_size`).
            output = self.linear(Y.reshape((-1, Y.shape[-1])))
            return output, state

        def begin_state(self, device, batch_size=1):
            if not isinstance(self.rnn, nn.LSTM):
                # `nn.GRU` takes a tensor as hidden state
                return torch.zeros(
                    (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens), device=device
                )
            else:
                # `nn.LSTM` takes a tuple of hidden states
                return (
                    torch.zeros(
                        (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens), device=device
                    ),
                    torch.zeros(
                        (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens), device=device
                    ),
                )

    def predict_ch8(prefix, num_preds, net, vocab, device):
        """Generate new characters following the `prefix`."""
        state = net.begin_state(batch_size=1, device=device)
        outputs = [vocab[prefix[0]]]
        get_input = lambda: torch.tensor([outputs[-1]], device=device).reshape((1, 1))
        for y in prefix[1:]:  # Warm-up period
            _, state = net(get_input(), state)
            outputs.append(vocab[y])
        for _ in range(num_preds):  # Predict `num_preds` steps
            y, state = net(get_input(), state)
            outputs.append(int(y.argmax(dim=1).reshape(1)))
        return "".join([vocab.idx_to_token[i] for i in outputs])

    def grad_clipping(net, theta):
        """Clip the gradient."""
        if isinstance(net, nn.Module):
            params = [p for p in net.parameters() if p.requires_grad]
        else:
            params = net.params
        norm = torch.sqrt(sum(torch.sum((p.grad**2)) for p in params))
        if norm > theta:
            for param in params:
                param.grad[:] *= theta / norm

    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter):
        """Train a net within one epoch (defined in Chapter 8)."""
        state = None
        metric = Accumulator(2)  # Sum of training loss, no. of tokens
        for X, Y in train_iter:
            if state is None or use_random_iter:
                # Initialize `state` when either it is the first iteration or
                # using random sampling
                state = net.begin_state(batch_size=X.shape[0], device=device)
            else:
                if isinstance(net, nn.Module) and not isinstance(state, tuple):
                    # `state` is a tensor for `nn.GRU`
                    state.detach_()
                else:
                    # `state` is a tuple of tensors for `nn.LSTM` and
                    # for our custom scratch implementation
                    for s in state:
                        s.detach_()
            y = Y.T.reshape(-1)
            X, y = X.to(device), y.to(device)
            y_hat, state = net(X, state)
            l = loss(y_hat, y.long()).mean()
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.backward()
                grad_clipping(net, 1)
                updater.step()
            else:
                l.backward()
                grad_clipping(net, 1)
                # batch_size=1 since the `mean` function has been invoked
                updater(batch_size=1)
            metric.add(l * y.numel(), y.numel())
        return math.exp(metric[0] / metric[1])

    device = torch.device("cpu")
    num_hiddens, batch_size, num_steps = 32, 4, 8
    if kind == "scratch":
        X = torch.arange(10).reshape((2, 5))
        out["one_hot_T"] = tuple(F.one_hot(X.T, 28).shape)
        net = RNNModelScratch(len(vocab), num_hiddens, device, get_params, init_rnn_state, rnn)
        state = net.begin_state(X.shape[0], device)
        Y, new_state = net(X.to(device), state)
        out["scratch_shapes"] = (tuple(Y.shape), len(new_state), tuple(new_state[0].shape))
        updater = lambda batch_size: sgd(net.params, 1, batch_size)
    else:
        rnn_layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](len(vocab), num_hiddens)
        state = torch.zeros((1, batch_size, num_hiddens))
        X = torch.rand(size=(num_steps, batch_size, len(vocab)))
        Y, state_new = rnn_layer(X, state if kind != "lstm" else (state, state))
        out["layer_shapes"] = (tuple(Y.shape), tuple(state_new[0].shape if kind == "lstm" else state_new.shape))
        net = RNNModel(rnn_layer, vocab_size=len(vocab))
        net = net.to(device)
        if init is None:
            out["init"] = _state(net)
        _load(torch, net, init)
        updater = torch.optim.SGD(net.parameters(), 1)
    out["predict0"] = predict_ch8("time traveller", 10, net, vocab, device)
    loss = nn.CrossEntropyLoss()
    random.seed(1)
    out["ppl"] = [
        train_epoch_ch8(net, seq_data_iter_sequential(corpus, batch_size, num_steps), loss, updater, device, False)
        for epoch in range(3)
    ]
    out["predict"] = predict_ch8("time traveller", 10, net, vocab, device)
    out["params"] = _np(net.params) if kind == "scratch" else _state(net)
    return out


@needs_torch
def test_rnn_scratch():
    _compare(rnn_programs, kind="scratch", rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_rnn_concise(kind):
    _compare(rnn_programs, kind=kind, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ 10.3 - 10.7 attention and the Transformer encoder


def attention_programs(torch, init):
    nn = torch.nn
    out = {}

    def sequence_mask(X, valid_len, value=0):
        """Mask irrelevant entries in sequences."""
        maxlen = X.size(1)
        mask = torch.arange((maxlen), dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
        X[~mask] = value
        return X

    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out["seq_mask"] = _np(
        [sequence_mask(X, torch.tensor([1, 2])), sequence_mask(torch.ones(2, 3, 4), torch.tensor([1, 2]), value=-1)]
    )

    def masked_softmax(X, valid_lens):
        """Perform softmax operation by masking elements on the last axis."""
        # `X`: 3D tensor, `valid_lens`: 1D or 2D tensor
        if valid_lens is None:
            return nn.functional.softmax(X, dim=-1)
        else:
            shape = X.shape
            if valid_lens.dim() == 1:
                valid_lens = torch.repeat_interleave(valid_lens, shape[1])
            else:
                valid_lens = valid_lens.reshape(-1)
            # On the last axis, replace masked elements with a very large negative
            # value, whose exponentiation outputs 0
            X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
            return nn.functional.softmax(X.reshape(shape), dim=-1)

    rng = np.random.default_rng(10)
    R = torch.from_numpy(rng.random((2, 2, 4), dtype=np.float32))
    out["masked"] = _np([masked_softmax(R, torch.tensor([2, 3])), masked_softmax(R, torch.tensor([[1, 3], [2, 4]]))])
    Rg = R.clone().requires_grad_(True)
    masked_softmax(Rg * 2, torch.tensor([2, 3])).pow(2).sum().backward()
    out["masked_grad"] = _np(Rg.grad)

    class AdditiveAttention(nn.Module):
        """Additive attention."""

        def __init__(self, key_size, query_size, num_hiddens, dropout, **kwargs):
            super(AdditiveAttention, self).__init__(**kwargs)
            self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
            self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
            self.w_v = nn.Linear(num_hiddens, 1, bias=False)
            self.dropout = nn.Dropout(dropout)

        def forward(self, queries, keys, values, valid_lens):
            queries, keys = self.W_q(queries), self.W_k(keys)
            # After dimension expansion, shape of `queries`: (`batch_size`, no. of
            # queries, 1, `num_hiddens`) and shape of `keys`: (`batch_size`, 1,
            # no. of key-value pairs, `num_hiddens`). Sum them up with
            # broadcasting
            features = queries.unsqueeze(2) + keys.unsqueeze(1)
            features = torch.tanh(features)
            # There is only one output of `self.w_v`, so we remove the last
            # one-dimensional entry from the shape. Shape of `scores`:
            # (`batch_size`, no. of queries, no. of key-value pairs)
            scores = self.w_v(features).squeeze(-1)
            self.attention_weights = masked_softmax(scores, valid_lens)
            # Shape of `values`: (`batch_size`, no. of key-value pairs, value
            # dimension)
            return torch.bmm(self.dropout(self.attention_weights), values)

    class DotProductAttention(nn.Module):
        """Scaled dot product attention."""

        def __init__(self, dropout, **kwargs):
            super(DotProductAttention, self).__init__(**kwargs)
            self.dropout = nn.Dropout(dropout)

        # Shape of `queries`: (`batch_size`, no. of queries, `d`)
        # Shape of `keys`: (`batch_size`, no. of key-value pairs, `d`)
        # Shape of `values`: (`batch_size`, no. of key-value pairs, value
        # dimension)
        # Shape of `valid_lens`: (`batch_size`,) or (`batch_size`, no. of queries)
        def forward(self, queries, keys, values, valid_lens=None):
            d = queries.shape[-1]
            # Set `transpose_b=True` to swap the last two dimensions of `keys`
            scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
            self.attention_weights = masked_softmax(scores, valid_lens)
            return torch.bmm(self.dropout(self.attention_weights), values)

    queries = torch.from_numpy(rng.normal(0, 1, (2, 1, 20)).astype(np.float32))
    keys = torch.ones((2, 10, 2))
    # The two value matrices in the `values` minibatch are identical
    values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    valid_lens = torch.tensor([2, 6])
    attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
    dot = DotProductAttention(dropout=0.5)

    def transpose_qkv(X, num_heads):
        """Transposition for parallel computation of multiple attention heads."""
        # Shape of input `X`: (`batch_size`, no. of queries or key-value pairs, `num_hiddens`).
        X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
        X = X.permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(X, num_heads):
        """Reverse the operation of `transpose_qkv`."""
        X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
        X = X.permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)

    class MultiHeadAttention(nn.Module):
        """Multi-head attention."""

        def __init__(self, key_size, query_size, value_size, num_hiddens, num_heads, dropout, bias=False, **kwargs):
            super(MultiHeadAttention, self).__init__(**kwargs)
            self.num_heads = num_heads
            self.attention = DotProductAttention(dropout)
            self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
            self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
            self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
            self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

        def forward(self, queries, keys, values, valid_lens):
            queries = transpose_qkv(self.W_q(queries), self.num_heads)
            keys = transpose_qkv(self.W_k(keys), self.num_heads)
            values = transpose_qkv(self.W_v(values), self.num_heads)
            if valid_lens is not None:
                # On axis 0, copy the first item (scalar or vector) for
                # `num_heads` times, then copy the next item, and so on
                valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
            # Shape of `output`: (`batch_size` * `num_heads`, no. of queries, `num_hiddens` / `num_heads`)
            output = self.attention(queries, keys, values, valid_lens)
            # Shape of `output_concat`: (`batch_size`, no. of queries, `num_hiddens`)
            output_concat = transpose_output(output, self.num_heads)
            return self.W_o(output_concat)

    class PositionalEncoding(nn.Module):
        """Positional encoding."""

        def __init__(self, num_hiddens, dropout, max_len=1000):
            super(PositionalEncoding, self).__init__()
            self.dropout = nn.Dropout(dropout)
            # Create a long enough `P`
            self.P = torch.zeros((1, max_len, num_hiddens))
            X = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
                10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens
            )
            self.P[:, :, 0::2] = torch.sin(X)
            self.P[:, :, 1::2] = torch.cos(X)

        def forward(self, X):
            X = X + self.P[:, : X.shape[1], :].to(X.device)
            return self.dropout(X)

    class PositionWiseFFN(nn.Module):
        """Positionwise feed-forward network."""

        def __init__(self, ffn_num_input, ffn_num_hiddens, ffn_num_outputs, **kwargs):
            super(PositionWiseFFN, self).__init__(**kwargs)
            self.dense1 = nn.Linear(ffn_num_input, ffn_num_hiddens)
            self.relu = nn.ReLU()
            self.dense2 = nn.Linear(ffn_num_hiddens, ffn_num_outputs)

        def forward(self, X):
            return self.dense2(self.relu(self.dense1(X)))

    class AddNorm(nn.Module):
        """Residual connection followed by layer normalization."""

        def __init__(self, normalized_shape, dropout, **kwargs):
            super(AddNorm, self).__init__(**kwargs)
            self.dropout = nn.Dropout(dropout)
            self.ln = nn.LayerNorm(normalized_shape)

        def forward(self, X, Y):
            return self.ln(self.dropout(Y) + X)

    class EncoderBlock(nn.Module):
        """Transformer encoder block."""

        def __init__(
            self, key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens,
            num_heads, dropout, use_bias=False, **kwargs,
        ):  # fmt: skip
            super(EncoderBlock, self).__init__(**kwargs)
            self.attention = MultiHeadAttention(
                key_size, query_size, value_size, num_hiddens, num_heads, dropout, use_bias
            )
            self.addnorm1 = AddNorm(norm_shape, dropout)
            self.ffn = PositionWiseFFN(ffn_num_input, ffn_num_hiddens, num_hiddens)
            self.addnorm2 = AddNorm(norm_shape, dropout)

        def forward(self, X, valid_lens):
            Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
            return self.addnorm2(Y, self.ffn(Y))

    class TransformerEncoder(nn.Module):
        """Transformer encoder."""

        def __init__(
            self, vocab_size, key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
            ffn_num_hiddens, num_heads, num_layers, dropout, use_bias=False, **kwargs,
        ):  # fmt: skip
            super(TransformerEncoder, self).__init__(**kwargs)
            self.num_hiddens = num_hiddens
            self.embedding = nn.Embedding(vocab_size, num_hiddens)
            self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
            self.blks = nn.Sequential()
            for i in range(num_layers):
                self.blks.add_module(
                    "block" + str(i),
                    EncoderBlock(
                        key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input,
                        ffn_num_hiddens, num_heads, dropout, use_bias,
                    ),
                )  # fmt: skip

        def forward(self, X, valid_lens, *args):
            # Since positional encoding values are between -1 and 1, the embedding
            # values are multiplied by the square root of the embedding dimension
            # to rescale before they are summed up
            X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
            self.attention_weights = [None] * len(self.blks)
            for i, blk in enumerate(self.blks):
                X = blk(X, valid_lens)
                self.attention_weights[i] = blk.attention.attention.attention_weights
            return X

    num_hiddens, num_heads = 16, 4
    mha = MultiHeadAttention(num_hiddens, num_hiddens, num_hiddens, num_hiddens, num_heads, 0.5)
    pos = PositionalEncoding(16, 0)
    ffn = PositionWiseFFN(4, 4, 8)
    add_norm = AddNorm([3, 4], 0.5)
    enc_blk = EncoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5)
    encoder = TransformerEncoder(200, 24, 24, 24, 24, [100, 24], 24, 48, 8, 2, 0.5)
    mods = dict(attention=attention, dot=dot, mha=mha, ffn=ffn, add_norm=add_norm, enc_blk=enc_blk, encoder=encoder)
    for key, m in mods.items():
        m.eval()
        if init is None:
            out.setdefault("init", {}).update({key + "." + k: v for k, v in _state(m).items()})
        else:
            _load(torch, m, {k[len(key) + 1 :]: v for k, v in init.items() if k.startswith(key + ".")})
    out["additive"] = _np(attention(queries, keys, values, valid_lens))
    out["additive_w"] = _np(attention.attention_weights)
    q = torch.from_numpy(rng.normal(0, 1, (2, 1, 2)).astype(np.float32))
    out["dot"] = _np([dot(q, keys, values, valid_lens), dot.attention_weights])
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    valid_lens = torch.tensor([3, 2])
    X = torch.from_numpy(rng.random((batch_size, num_queries, num_hiddens), dtype=np.float32))
    Y = torch.from_numpy(rng.random((batch_size, num_kvpairs, num_hiddens), dtype=np.float32))
    out["mha"] = _np(mha(X, Y, Y, valid_lens))
    out["P"] = (_np(pos.P[0, :60:7, :]), _np(pos(torch.zeros((1, 60, 16)))[0, 59]))
    out["ffn"] = _np(ffn(torch.ones((2, 3, 4)))[0])
    out["add_norm"] = _np(add_norm(torch.ones((2, 3, 4)), torch.ones((2, 3, 4))))
    X = torch.from_numpy(rng.random((2, 100, 24), dtype=np.float32))
    valid_lens = torch.tensor([3, 2])
    out["enc_blk"] = _np(enc_blk(X, valid_lens)[:, :3])
    tokens = torch.from_numpy(rng.integers(0, 200, (2, 100)))
    encoder.train()
    for m in encoder.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    Z = encoder(tokens, valid_lens)
    Z.pow(2).mean().backward()
    out["encoder"] = (tuple(Z.shape), _np(Z[:, :2]), _np(encoder.attention_weights[1][:, 0]))
    out["encoder_grads"] = {name: _np(p.grad) for name, p in encoder.named_parameters() if "blks.block1" in name}
    out["embedding_grad"] = _np(encoder.embedding.weight.grad[tokens[0, :5]])
    return out


def test_attention_and_transformer_encoder():
    _compare(attention_programs, rtol=1e-3, atol=1e-5)


# ---------------------------------------- 12.5 - 12.10 optimizers from scratch, 12.11 learning-rate scheduling


def optimizers_scratch(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    rng = np.random.default_rng(11)
    data = rng.normal(0, 1, (60, 6)).astype(np.float32)
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    data_iter = d["load_array"]((torch.from_numpy(data[:, :-1]), torch.from_numpy(data[:, -1])), 10, is_train=False)
    feature_dim = 5
    out = {}

    def init_momentum_states(feature_dim):
        v_w = torch.zeros((feature_dim, 1))
        v_b = torch.zeros(1)
        return (v_w, v_b)

    def sgd_momentum(params, states, hyperparams):
        for p, v in zip(params, states):
            with torch.no_grad():
                v[:] = hyperparams["momentum"] * v + p.grad
                p[:] -= hyperparams["lr"] * v
            p.grad.data.zero_()

    def init_adagrad_states(feature_dim):
        s_w = torch.zeros((feature_dim, 1))
        s_b = torch.zeros(1)
        return (s_w, s_b)

    def adagrad(params, states, hyperparams):
        eps = 1e-6
        for p, s in zip(params, states):
            with torch.no_grad():
                s[:] += torch.square(p.grad)
                p[:] -= hyperparams["lr"] * p.grad / torch.sqrt(s + eps)
            p.grad.data.zero_()

    def init_rmsprop_states(feature_dim):
        s_w = torch.zeros((feature_dim, 1))
        s_b = torch.zeros(1)
        return (s_w, s_b)

    def rmsprop(params, states, hyperparams):
        gamma, eps = hyperparams["gamma"], 1e-6
        for p, s in zip(params, states):
            with torch.no_grad():
                s[:] = gamma * s + (1 - gamma) * torch.square(p.grad)
                p[:] -= hyperparams["lr"] * p.grad / torch.sqrt(s + eps)
            p.grad.data.zero_()

    def init_adadelta_states(feature_dim):
        s_w, s_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        delta_w, delta_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        return ((s_w, delta_w), (s_b, delta_b))

    def adadelta(params, states, hyperparams):
        rho, eps = hyperparams["rho"], 1e-5
        for p, (s, delta) in zip(params, states):
            with torch.no_grad():
                # In-place updates via [:]
                s[:] = rho * s + (1 - rho) * torch.square(p.grad)
                g = (torch.sqrt(delta + eps) / torch.sqrt(s + eps)) * p.grad
                p[:] -= g
                delta[:] = rho * delta + (1 - rho) * g * g
            p.grad.data.zero_()

    def init_adam_states(feature_dim):
        v_w, v_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        s_w, s_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        return ((v_w, s_w), (v_b, s_b))

    def adam(params, states, hyperparams):
        beta1, beta2, eps = 0.9, 0.999, 1e-6
        for p, (v, s) in zip(params, states):
            with torch.no_grad():
                v[:] = beta1 * v + (1 - beta1) * p.grad
                s[:] = beta2 * s + (1 - beta2) * torch.square(p.grad)
                v_bias_corr = v / (1 - beta1 ** hyperparams["t"])
                s_bias_corr = s / (1 - beta2 ** hyperparams["t"])
                p[:] -= hyperparams["lr"] * v_bias_corr / (torch.sqrt(s_bias_corr) + eps)
            p.grad.data.zero_()
        hyperparams["t"] += 1

    w0 = rng.normal(0, 0.01, (feature_dim, 1)).astype(np.float32)

    def train_ch11(trainer_fn, states, hyperparams, data_iter, feature_dim, num_epochs=2):
        # Initialization
        w = torch.normal(mean=0.0, std=0.01, size=(feature_dim, 1), requires_grad=True)
        b = torch.zeros((1), requires_grad=True)
        with torch.no_grad():
            w.copy_(torch.from_numpy(w0))
        net, loss = lambda X: d["linreg"](X, w, b), d["squared_loss"]
        # Train
        n, hist = 0, []
        for _ in range(num_epochs):
            for X, y in data_iter:
                l = loss(net(X), y).mean()
                l.backward()
                trainer_fn([w, b], states, hyperparams)
                n += X.shape[0]
                if n % 20 == 0:
                    hist.append(d["evaluate_loss"](net, data_iter, loss))
        return hist, _np([w, b])

    out["momentum"] = train_ch11(
        sgd_momentum, init_momentum_states(feature_dim), {"lr": 0.02, "momentum": 0.5}, data_iter, feature_dim
    )
    out["adagrad"] = train_ch11(adagrad, init_adagrad_states(feature_dim), {"lr": 0.1}, data_iter, feature_dim)
    out["rmsprop"] = train_ch11(
        rmsprop, init_rmsprop_states(feature_dim), {"lr": 0.01, "gamma": 0.9}, data_iter, feature_dim
    )
    out["adadelta"] = train_ch11(adadelta, init_adadelta_states(feature_dim), {"rho": 0.9}, data_iter, feature_dim)
    out["adam"] = train_ch11(adam, init_adam_states(feature_dim), {"lr": 0.01, "t": 1}, data_iter, feature_dim)

    def train_concise_ch11(trainer_fn, hyperparams, data_iter, num_epochs=2):
        # Initialization
        net = nn.Sequential(nn.Linear(5, 1))

        def init_weights(m):
            if type(m) == nn.Linear:
                torch.nn.init.normal_(m.weight, std=0.01)

        net.apply(init_weights)
        with torch.no_grad():
            net[0].weight.copy_(torch.from_numpy(w0.T.copy()))
            net[0].bias.zero_()
        optimizer = trainer_fn(net.parameters(), **hyperparams)
        loss = nn.MSELoss(reduction="none")
        hist = []
        for _ in range(num_epochs):
            for X, y in data_iter:
                optimizer.zero_grad()
                out = net(X)
                y = y.reshape(out.shape)
                l = loss(out, y)
                l.mean().backward()
                optimizer.step()
            # `MSELoss` computes squared error without the 1/2 factor
            hist.append(d["evaluate_loss"](net, data_iter, loss) / 2)
        return hist, _state(net)

    opt = torch.optim
    out["concise"] = [
        train_concise_ch11(opt.SGD, {"lr": 0.01}, data_iter),
        train_concise_ch11(opt.SGD, {"lr": 0.005, "momentum": 0.9}, data_iter),
        train_concise_ch11(opt.Adagrad, {"lr": 0.1}, data_iter),
        train_concise_ch11(opt.RMSprop, {"lr": 0.01, "alpha": 0.9}, data_iter),
        train_concise_ch11(opt.Adadelta, {"rho": 0.9}, data_iter),
        train_concise_ch11(opt.Adam, {"lr": 0.01}, data_iter),
    ]
    return out


def lr_scheduling(torch, init):
    d = d2l_helpers(torch)
    nn = torch.nn
    lr_scheduler = torch.optim.lr_scheduler
    out = {}

    class SquareRootScheduler:
        def __init__(self, lr=0.1):
            self.lr = lr

        def __call__(self, num_update):
            return self.lr * pow(num_update + 1.0, -0.5)

    class FactorScheduler:
        def __init__(self, factor=1, stop_factor_lr=1e-7, base_lr=0.1):
            self.factor = factor
            self.stop_factor_lr = stop_factor_lr
            self.base_lr = base_lr

        def __call__(self, num_update):
            self.base_lr = max(self.stop_factor_lr, self.base_lr * self.factor)
            return self.base_lr

    class MultiFactorScheduler:
        def __init__(self, step, factor, base_lr):
            self.step = step
            self.factor = factor
            self.base_lr = base_lr

        def __call__(self, epoch):
            if epoch in self.step:
                self.base_lr = self.base_lr * self.factor
                return self.base_lr
            else:
                return self.base_lr

    class CosineScheduler:
        def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0):
            self.base_lr_orig = base_lr
            self.max_update = max_update
            self.final_lr = final_lr
            self.warmup_steps = warmup_steps
            self.warmup_begin_lr = warmup_begin_lr
            self.max_steps = self.max_update - self.warmup_steps

        def get_warmup_lr(self, epoch):
            increase = (self.base_lr_orig - self.warmup_begin_lr) * float(epoch) / float(self.warmup_steps)
            return self.warmup_begin_lr + increase

        def __call__(self, epoch):
            if epoch < self.warmup_steps:
                return self.get_warmup_lr(epoch)
            if epoch <= self.max_update:
                self.base_lr = (
                    self.final_lr
                    + (self.base_lr_orig - self.final_lr)
                    * (1 + math.cos(math.pi * (epoch - self.warmup_steps) / self.max_steps))
                    / 2
                )
            return self.base_lr

    def net_fn():
        model = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))  # fmt: skip
        if init is None and "init" not in out:
            out["init"] = _state(model)
        _load(torch, model, init if init is not None else out["init"])
        return model

    loss = nn.CrossEntropyLoss()
    device = d["try_gpu"]()
    Xn, yn = _images(32)
    train_iter = d["load_array"]((torch.from_numpy(Xn[:16]), torch.from_numpy(yn[:16])), 8, is_train=False)
    test_iter = d["load_array"]((torch.from_numpy(Xn[16:]), torch.from_numpy(yn[16:])), 8, is_train=False)

    def train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler=None):
        net.to(device)
        hist = []
        for epoch in range(num_epochs):
            metric = Accumulator(3)  # train_loss, train_acc, num_examples
            for i, (X, y) in enumerate(train_iter):
                net.train()
                trainer.zero_grad()
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                trainer.step()
                with torch.no_grad():
                    metric.add(l * X.shape[0], d["accuracy"](y_hat, y), X.shape[0])
                train_loss = metric[0] / metric[2]
                train_acc = metric[1] / metric[2]
            test_acc = d["evaluate_accuracy_gpu"](net, test_iter)
            hist.append((train_loss, train_acc, test_acc, trainer.param_groups[0]["lr"]))
            if scheduler:
                if scheduler.__module__ == lr_scheduler.__name__:
                    # Using PyTorch In-Built scheduler
                    scheduler.step()
                else:
                    # Using custom defined scheduler
                    for param_group in trainer.param_groups:
                        param_group["lr"] = scheduler(epoch)
        return hist

    lr, num_epochs = 0.3, 4
    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    out["plain"] = train(net, train_iter, test_iter, num_epochs, loss, trainer, device)
    scheduler = SquareRootScheduler(lr=0.1)
    out["sqrt_curve"] = [scheduler(t) for t in range(num_epochs)]
    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr)
    out["sqrt"] = train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler)
    scheduler = FactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
    out["factor"] = [scheduler(t) for t in range(50)]

    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    scheduler = lr_scheduler.MultiStepLR(trainer, milestones=[15, 30], gamma=0.5)

    def get_lr(trainer, scheduler):
        lr = scheduler.get_last_lr()[0]
        trainer.step()
        scheduler.step()
        return lr

    out["multistep_curve"] = [get_lr(trainer, scheduler) for t in range(40)]
    out["multifactor_curve"] = [MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5)(t) for t in range(40)]
    scheduler = MultiFactorScheduler(step=[1, 2], factor=0.5, base_lr=0.5)
    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    out["multifactor"] = train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler)
    scheduler = CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01)
    out["cosine_curve"] = [scheduler(t) for t in range(30)]
    scheduler = CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01)
    out["warmup_curve"] = [scheduler(t) for t in range(30)]
    scheduler = CosineScheduler(max_update=3, base_lr=0.3, final_lr=0.01)
    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr=0.3)
    out["cosine"] = train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler)
    # the built-in StepLR takes the "In-Built" branch
    net = net_fn()
    trainer = torch.optim.SGD(net.parameters(), lr=0.3)
    scheduler = lr_scheduler.StepLR(trainer, step_size=2, gamma=0.5)
    out["is_builtin"] = scheduler.__module__ == lr_scheduler.__name__
    out["steplr"] = train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler)
    out["steplr_sd"] = {k: v for k, v in scheduler.state_dict().items() if k in ("last_epoch", "base_lrs", "_last_lr")}
    return out


@needs_torch
def test_optimizers_scratch():
    _compare(optimizers_scratch)


def test_lr_scheduling():
    out = _compare(lr_scheduling, rtol=1e-3, atol=1e-4)
    assert out["is_builtin"]
