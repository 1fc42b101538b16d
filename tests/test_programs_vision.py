"""Computer-vision training code as a PyTorch user writes it, run once with torch and once with ``backprop``
standing in for ``torch`` (the same function, the library passed in), from the same initial weights (torch's
``model.apply(init)`` result copied through ``state_dict``): losses, learning rates, parameters, outputs,
metrics, reprs and state-dict keys agree. Then regression tests for the gaps these programs found.

Nothing random differs: no dropout, loaders that do not shuffle (or whose order is not compared).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="torch not installed: the vision programs are compared with it")


def _copy_weights(ours: Any, theirs: Any) -> None:
    ours.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def _state_close(ours: Any, theirs: Any, rtol: float, atol: float) -> None:
    mine = ours.state_dict()
    assert list(mine) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(mine[name].numpy(), value.numpy(), rtol=rtol, atol=atol, err_msg=name)


def _is_float(lib: Any, t: Any) -> bool:
    return t.dtype.is_floating_point if lib is torch else t.is_floating_point()


# ------------------------------------------------------------------ a ResNet with BN/GN, SGD-nesterov, restarts


def make_resnet(lib: Any) -> Any:
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int = 1, norm: str = "bn") -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout) if norm == "bn" else nn.GroupNorm(2, cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout) if norm == "bn" else nn.GroupNorm(2, cout)
            self.relu = nn.ReLU(inplace=True)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            return self.relu(out)

    class Net(nn.Module):
        def __init__(self, num_classes: int = 5) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(True))
            self.layer1 = nn.Sequential(Block(8, 8), Block(8, 8, norm="gn"))
            self.layer2 = nn.Sequential(Block(8, 16, stride=2), Block(16, 16))
            self.dw = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)  # depthwise, dilated
            self.pw = nn.Conv2d(16, 16, 1, groups=4)  # grouped pointwise
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.layer2(self.layer1(self.stem(x)))
            x = self.pool(F.relu6(self.pw(self.dw(x))))
            return self.fc(x.view(x.size(0), -1))

    def init(m: Any) -> None:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)

    lib.manual_seed(0)
    net = Net()
    net.apply(init)
    return net


def train_resnet(lib: Any, model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    nn = lib.nn
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or n.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}]
    opt = lib.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True)
    sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=1e-4)
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    X, Y = lib.tensor(x), lib.tensor(y)
    losses, lrs, accum = [], [], 2
    for epoch in range(3):
        model.train()
        opt.zero_grad()
        for i in range(4):  # gradient accumulation over 2 batches
            loss = crit(model(X[i * 8 : (i + 1) * 8]), Y[i * 8 : (i + 1) * 8]) / accum
            loss.backward()
            if (i + 1) % accum == 0:
                nn.utils.clip_grad_norm_(model.parameters(), 2.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            sched.step(epoch + i / 4)
            lrs.append([g["lr"] for g in opt.param_groups])
    buf = io.BytesIO()  # a checkpoint of model, optimizer and scheduler
    lib.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": 3}, buf)
    buf.seek(0)
    ck = lib.load(buf, weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    model.eval()
    with lib.no_grad():
        out = model(X)
        pred = out.argmax(dim=1)
        acc = pred.eq(Y).sum().item() / len(Y)
        confusion = lib.bincount(Y * 5 + pred, minlength=25).reshape(5, 5)
        top2 = (out.topk(2, dim=1).indices == Y.view(-1, 1)).any(dim=1).float().mean().item()
        _, top3 = out.topk(3, 1, True, True)
        correct = top3.t().eq(Y.view(1, -1).expand_as(top3.t()))
        top3_pct = correct[:3].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / len(Y))
    with lib.inference_mode():
        out2 = model(X)
    return {
        "losses": losses,
        "lrs": lrs,
        "acc": acc,
        "confusion": confusion.numpy(),
        "top2": top2,
        "top3": top3_pct.numpy(),
        "out": out2.numpy(),
        "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "keys": list(model.state_dict()),
        "modules": [n for n, _ in model.named_modules()],
        "repr": repr(model),
        "opt_repr": repr(opt),
    }


def test_resnet_sgd_nesterov_param_groups_warm_restarts_checkpoint() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 32)
    theirs, ours = make_resnet(torch), make_resnet(bp)
    _copy_weights(ours, theirs)
    want, got = train_resnet(torch, theirs, x, y), train_resnet(bp, ours, x, y)
    for key in ("n_params", "keys", "modules", "repr", "opt_repr", "acc"):
        assert got[key] == want[key], key
    for key in ("losses", "lrs", "confusion", "top2", "top3", "out"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
    _state_close(ours, theirs, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ a UNet-ish decoder, float64


def make_unet(lib: Any) -> Any:
    nn, F = lib.nn, lib.nn.functional

    class Down(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect", bias=False),
                nn.InstanceNorm2d(cout, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            )
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x: Any) -> Any:
            h = self.conv(x)
            p, idx = self.pool(h)
            return h, p, idx

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d1, self.d2 = Down(3, 8), Down(8, 16)
            self.mid = nn.Sequential(
                nn.Conv2d(16, 32, 3, padding=1, padding_mode="replicate"),
                nn.SiLU(),
                nn.Conv2d(32, 64, 1),
                nn.PixelShuffle(2),
                nn.PixelUnshuffle(2),
                nn.PixelShuffle(2),
            )
            self.unpool = nn.MaxUnpool2d(2)
            self.up1 = nn.ConvTranspose2d(32, 8, 2, stride=2)
            self.c2 = nn.Conv2d(16, 4, 3, padding=1, padding_mode="circular")
            self.out = nn.ConvTranspose2d(4, 2, 3, stride=1, padding=1, groups=2)
            self.up3 = nn.Upsample(size=(10, 10), mode="nearest")

        def forward(self, x: Any) -> Any:
            h1, p1, _ = self.d1(x)
            h2, p2, i2 = self.d2(p1)
            m = F.interpolate(self.mid(p2), size=p2.shape[-2:], mode="bilinear", align_corners=False)
            u = lib.cat([self.unpool(m, i2, output_size=h2.size()), h2], dim=1)
            u = self.out(self.c2(lib.cat([self.up1(u), h1], 1)))
            return (
                u,
                self.up3(u),
                F.interpolate(u, scale_factor=0.5, mode="area"),
                F.interpolate(u, scale_factor=1.5, mode="bicubic", align_corners=False),
                F.interpolate(u, size=(5, 7), mode="nearest-exact"),
                F.interpolate(u, scale_factor=2, mode="bilinear", align_corners=True),
                F.adaptive_max_pool2d(u, (3, 3)),
            )

    lib.manual_seed(0)
    return UNet()


def train_unet(lib: Any, model: Any, x: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    F = lib.nn.functional
    model = model.to(memory_format=lib.channels_last).double()
    X = lib.tensor(x).contiguous(memory_format=lib.channels_last)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), amsgrad=True)
    sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=3, pct_start=0.3, anneal_strategy="linear")
    pos_weight = lib.tensor([2.0, 1.0], dtype=lib.float64).view(1, 2, 1, 1)
    losses = []
    for _ in range(3):
        outs = model(X)
        tgt = lib.sigmoid(X[:, :2])
        loss = F.mse_loss(outs[0], tgt) + F.smooth_l1_loss(outs[1].mean(), lib.tensor(0.3, dtype=lib.float64))
        loss = loss + sum(o.pow(2).mean() for o in outs[2:]) * 0.1
        loss = loss + F.binary_cross_entropy_with_logits(outs[0], (tgt > 0.5).double(), pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses, [o.detach().numpy() for o in outs]


def test_unet_convtranspose_unpool_pixelshuffle_interpolate_float64() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    theirs, ours = make_unet(torch), make_unet(bp)
    _copy_weights(ours, theirs)
    assert repr(ours) == repr(theirs)
    (l_t, o_t), (l_b, o_b) = train_unet(torch, theirs, x), train_unet(bp, ours, x)
    np.testing.assert_allclose(l_b, l_t, rtol=1e-10)
    for got, want in zip(o_b, o_t):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)
    _state_close(ours, theirs, rtol=1e-9, atol=1e-10)


# ------------------------------------------------------------------ augmentation-style tensor code


def augment(lib: Any, img_np: np.ndarray) -> dict[str, Any]:
    F = lib.nn.functional
    img = lib.from_numpy(img_np)  # N C H W uint8
    x = img.float().div(255)
    mean = lib.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = lib.as_tensor([0.229, 0.224, 0.225])[None, :, None, None]
    x = (x - mean) / std
    out = {
        "flip": lib.flip(x, dims=[3]),
        "fliplr": x[0].permute(1, 2, 0).fliplr(),
        "roll": lib.roll(x, shifts=(1, -2), dims=(2, 3)),
        "crop": x[..., 1:7, 2:8].contiguous(),
        "clamp": lib.clamp(x, min=-1.0, max=1.0),
        "clamp_tensors": x.clamp(min=mean * 0, max=std * 4),
        "where": lib.where(x > 0, x, 0.0),
        "rot90": lib.rot90(x, 1, [2, 3]),
        "to_uint8": (x * 40 + 128).clamp(0, 255).round().to(lib.uint8),
        "mixup": 0.3 * x + 0.7 * x.flip(0),
        "gray": (x * lib.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True),
        "antialias": F.interpolate(x, size=(4, 4), mode="bilinear", antialias=True, align_corners=False),
        "fold": F.fold(F.unfold(x, 3, stride=2, padding=1), output_size=(8, 8), kernel_size=3, stride=2, padding=1),
        "patches": x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(2, 3, -1, 16),
        "std_mean": lib.stack(lib.std_mean(x, dim=(0, 2, 3))),
        "channel_mean": img.float().mean(dim=(0, 2, 3)),
        "bgr": x[:, [2, 1, 0]],
        "erase": x.clone().index_fill_(2, lib.tensor([1, 2]), 0.0),
    }
    cut = x.clone()
    cut[:, :, 2:5, 3:6] = x.flip(0)[:, :, 2:5, 3:6]
    out["cutmix"] = cut
    for mode in ("reflect", "replicate", "circular"):
        out["pad_" + mode] = F.pad(x, (1, 2, 2, 1), mode=mode)
    out["pad_constant"] = F.pad(x, (1, 2, 2, 1), value=-1.5)
    theta = lib.tensor([[[0.9, -0.1, 0.05], [0.1, 0.9, -0.05]], [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]])
    for ac in (False, True):
        grid = F.affine_grid(theta, x.size(), align_corners=ac)
        for mode in ("bilinear", "bicubic"):
            for pm in ("zeros", "border", "reflection"):
                out[f"grid_{ac}_{mode}_{pm}"] = F.grid_sample(x, grid, mode=mode, padding_mode=pm, align_corners=ac)
    return {k: v.numpy() for k, v in out.items()}


def test_augmentation_tensor_code() -> None:
    img = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    want, got = augment(torch, img), augment(bp, img)
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=key)


# ------------------------------------------------------------------ a custom Dataset and the DataLoader


def load(lib: Any, imgs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    data = lib.utils.data

    class ImageDataset(data.Dataset):
        def __init__(self, imgs: np.ndarray, labels: np.ndarray) -> None:
            self.imgs, self.labels = imgs, labels

        def __len__(self) -> int:
            return len(self.imgs)

        def __getitem__(self, i: int) -> dict[str, Any]:
            x = (lib.from_numpy(self.imgs[i]).permute(2, 0, 1).float() / 255.0 - 0.5) / 0.25
            return {"image": x, "label": int(self.labels[i]), "meta": (i, f"img{i}")}

    def collate(batch: list[dict[str, Any]]) -> tuple[Any, Any]:
        return lib.stack([s["image"] for s in batch]), lib.tensor([s["label"] for s in batch])

    ds = ImageDataset(imgs, labels)
    first = next(iter(data.DataLoader(ds, batch_size=4)))
    dl = data.DataLoader(ds, batch_size=3, drop_last=True, collate_fn=collate, sampler=data.SequentialSampler(ds))
    batches = data.BatchSampler(data.SequentialSampler(range(10)), batch_size=4, drop_last=False)
    train, val = data.random_split(ds, [0.8, 0.2], generator=lib.Generator().manual_seed(42))
    gen = lib.Generator().manual_seed(3)
    shuffled = data.DataLoader(ds, batch_size=4, shuffle=True, generator=gen, collate_fn=collate)
    return {
        "first_image": first["image"].numpy(),
        "first_label": (first["label"].tolist(), str(first["label"].dtype).removeprefix("torch.")),
        "first_meta": (first["meta"][0].tolist(), list(first["meta"][1])),
        "len": (len(dl), len(data.DataLoader(ds, batch_size=3, collate_fn=collate))),
        "batches": [(tuple(x.shape), y.tolist()) for x, y in dl],
        "batch_sampler": [y.tolist() for _, y in data.DataLoader(ds, batch_sampler=batches, collate_fn=collate)],
        "split": (len(train), len(val), len(set(train.indices) | set(val.indices))),
        "shuffled": sorted(sum([y.tolist() for _, y in shuffled], [])),
        "concat": len(data.ConcatDataset([ds, data.Subset(ds, [1, 3, 5])])),
    }


def test_custom_dataset_collate_samplers_random_split() -> None:
    rng = np.random.default_rng(0)
    imgs, labels = rng.integers(0, 256, (10, 6, 6, 3), dtype=np.uint8), rng.integers(0, 4, 10)
    want, got = load(torch, imgs, labels), load(bp, imgs, labels)
    np.testing.assert_allclose(got.pop("first_image"), want.pop("first_image"), rtol=1e-6)
    assert got == want


# ------------------------------------------------------------------ SWA, EMA (foreach and state_dict), bf16 autocast


def make_small(lib: Any) -> Any:
    nn = lib.nn
    lib.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(96, 4)
    )


def train_swa_ema(lib: Any, model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    F, su, data = lib.nn.functional, lib.optim.swa_utils, lib.utils.data
    X, Y = lib.tensor(x), lib.tensor(y)
    loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=4)
    swa = su.AveragedModel(model)
    ema = su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.9))
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    swa_sched = su.SWALR(opt, swa_lr=0.01, anneal_epochs=2, anneal_strategy="cos")
    ema_sd = {k: v.detach().clone() for k, v in model.state_dict().items()}  # timm-style EMA of the state dict
    ema_params = [p.detach().clone() for p in model.parameters()]  # and of the parameters, with _foreach ops
    losses, lrs = [], []
    for _ in range(3):
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            ema.update_parameters(model)
            with lib.no_grad():
                for k, v in model.state_dict().items():
                    if _is_float(lib, v):
                        ema_sd[k].mul_(0.99).add_(v.detach(), alpha=0.01)
                    else:
                        ema_sd[k].copy_(v)
                lib._foreach_lerp_(ema_params, list(model.parameters()), 0.1)
                lib._foreach_mul_(ema_params, 1.0)
        swa.update_parameters(model)
        swa_sched.step()
        lrs.append(swa_sched.get_last_lr())
    su.update_bn(loader, swa)
    swa.eval()
    ema.eval()
    with lib.no_grad():
        o_swa, o_ema = swa(X), ema(X)
    with lib.autocast("cpu", dtype=lib.bfloat16):
        o_bf = model(X)
        l_bf = F.cross_entropy(o_bf, Y)
    return {
        "losses": losses,
        "lrs": lrs,
        "swa": o_swa.numpy(),
        "ema": o_ema.numpy(),
        "ema_sd": [v.numpy() for v in ema_sd.values()],
        "ema_params": [p.numpy() for p in ema_params],
        "bf16": (o_bf.detach().float().numpy(), l_bf.item()),
        "dtypes": [str(t.dtype).removeprefix("torch.") for t in (o_bf, l_bf)],
        "swa_keys": list(swa.state_dict()),
        "n_averaged": swa.n_averaged.item(),
    }


def test_swa_ema_foreach_and_bf16_autocast() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 3, 8, 8)).astype(np.float32), rng.integers(0, 4, 12)
    theirs, ours = make_small(torch), make_small(bp)
    _copy_weights(ours, theirs)
    want, got = train_swa_ema(torch, theirs, x, y), train_swa_ema(bp, ours, x, y)
    for key in ("dtypes", "swa_keys", "n_averaged"):
        assert got[key] == want[key], key
    for key in ("losses", "lrs", "swa", "ema"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for key in ("ema_sd", "ema_params"):
        for a, b in zip(got[key], want[key]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(got["bf16"][0], want["bf16"][0], rtol=3e-2, atol=3e-2)
    assert got["bf16"][1] == pytest.approx(want["bf16"][1], rel=3e-2)


# ------------------------------------------------------------------ a tiny ViT: checkpointing, GradScaler, warmup


def make_vit(lib: Any) -> Any:
    nn, F = lib.nn, lib.nn.functional

    class Attention(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

        def forward(self, x: Any) -> Any:
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
            return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self, d: int, heads: int) -> None:
            super().__init__()
            self.n1, self.attn, self.n2 = nn.LayerNorm(d, eps=1e-6), Attention(d, heads), nn.LayerNorm(d, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

        def forward(self, x: Any) -> Any:
            x = x + self.attn(self.n1(x))
            return x + self.mlp(self.n2(x))

    class ViT(nn.Module):
        def __init__(self, d: int = 16) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, d, 4, 4)
            self.cls, self.pos = nn.Parameter(lib.zeros(1, 1, d)), nn.Parameter(lib.zeros(1, 5, d))
            self.blocks = nn.ModuleList([Block(d, 2) for _ in range(2)])
            self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 3)
            nn.init.trunc_normal_(self.pos, std=0.02)
            self.apply(self._init)

        def _init(self, m: Any) -> None:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.constant_(m.bias, 0)

        def forward(self, x: Any) -> Any:
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = lib.cat((self.cls.expand(x.shape[0], -1, -1), x), dim=1) + self.pos
            for i, block in enumerate(self.blocks):
                x = lib.utils.checkpoint.checkpoint(block, x, use_reentrant=False) if i == 0 else block(x)
            return self.head(self.norm(x)[:, 0])

    lib.manual_seed(0)
    return ViT()


def train_vit(lib: Any, model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    F, S = lib.nn.functional, lib.optim.lr_scheduler
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and n not in ("cls", "pos")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim > 1 and n not in ("cls", "pos"))]
    opt = lib.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    warm = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=2)
    sched = S.SequentialLR(opt, schedulers=[warm, S.CosineAnnealingLR(opt, T_max=4, eta_min=1e-5)], milestones=[2])
    scaler = lib.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    X, Y = lib.tensor(x), lib.tensor(y)
    losses, lrs, scales = [], [], []
    for _ in range(6):
        loss = F.cross_entropy(model(X), Y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        losses.append(loss.item())
        lrs.append(sched.get_last_lr())
        scales.append(scaler.get_scale())
    model.eval()
    with lib.no_grad():
        conf, pred = F.softmax(model(X), dim=-1).max(dim=-1)
    return {"losses": losses, "lrs": lrs, "scales": scales, "conf": conf.numpy(), "pred": pred.tolist()}


def test_vit_checkpoint_gradscaler_warmup_cosine() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3, 8, 8)).astype(np.float32), rng.integers(0, 3, 6)
    theirs, ours = make_vit(torch), make_vit(bp)
    _copy_weights(ours, theirs)
    assert repr(ours) == repr(theirs)
    want, got = train_vit(torch, theirs, x, y), train_vit(bp, ours, x, y)
    assert got["pred"] == want["pred"] and got["scales"] == want["scales"]
    for key in ("losses", "lrs", "conf"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-6, err_msg=key)
    _state_close(ours, theirs, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ regressions: class-id target dtypes


def _outcome(fn: Any, lib: Any) -> tuple[str, Any]:
    try:
        out = fn(lib)
    except Exception as e:  # noqa: BLE001 - the class and message are what is compared
        return type(e).__name__, str(e)
    return "ok", np.asarray(out.detach().numpy()).tolist()


_TARGET_CASES = {
    # a uint8 segmentation mask or label vector: torch takes it for (N, C) scores, not for images
    "nll (N, C) uint8": lambda L: L.nn.functional.nll_loss(L.ones(2, 3), L.tensor([0, 2]).to(L.uint8)),
    "nll (N, C) uint8 ignore": lambda L: L.nn.functional.nll_loss(
        L.arange(6.0).reshape(2, 3), L.tensor([2, 1], dtype=L.uint8), weight=L.tensor([1.0, 2.0, 3.0]), ignore_index=1
    ),
    "ce (N, C) uint8": lambda L: L.nn.functional.cross_entropy(
        L.arange(6.0).reshape(2, 3), L.tensor([2, 1], dtype=L.uint8), label_smoothing=0.1
    ),
    "ce (C,) uint8": lambda L: L.nn.functional.cross_entropy(L.arange(3.0), L.tensor(1, dtype=L.uint8)),
    "ce image uint8 mask": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3, 2, 2), L.zeros(2, 2, 2, dtype=L.uint8)),
    "nll (N, C, L) uint8": lambda L: L.nn.functional.nll_loss(L.ones(2, 3, 4), L.zeros(2, 4, dtype=L.uint8)),
    "ce int32": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3), L.tensor([0, 1], dtype=L.int32)),
    "CrossEntropyLoss int32": lambda L: L.nn.CrossEntropyLoss()(L.ones(2, 3), L.tensor([0, 1], dtype=L.int32)),
    "ce image int16": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3, 2, 2), L.zeros(2, 2, 2, dtype=L.int16)),
    "nll int8": lambda L: L.nn.functional.nll_loss(L.ones(2, 3), L.tensor([0, 1], dtype=L.int8)),
    "nll bool": lambda L: L.nn.functional.nll_loss(L.ones(2, 3), L.tensor([True, False])),
    "ce bool": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3), L.tensor([True, False])),
    "nll float": lambda L: L.nn.functional.nll_loss(L.ones(2, 3), L.tensor([0.0, 1.0])),
    "ce float of another shape": lambda L: L.nn.functional.cross_entropy(L.ones(2, 3), L.tensor([0.0, 1.0])),
    "multi_margin int32": lambda L: L.nn.functional.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1], dtype=L.int32)),
    "multi_margin uint8": lambda L: L.nn.functional.multi_margin_loss(L.ones(2, 3), L.tensor([0, 1], dtype=L.uint8)),
    "multi_margin float": lambda L: L.nn.functional.multi_margin_loss(L.ones(2, 3), L.tensor([0.0, 1.0])),
}


@pytest.mark.parametrize("case", sorted(_TARGET_CASES))
def test_class_id_target_dtypes_match_torch(case: str) -> None:
    got, want = _outcome(_TARGET_CASES[case], bp), _outcome(_TARGET_CASES[case], torch)
    if want[0] == "ok":
        assert got[0] == "ok", got
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    else:
        assert got == ("RuntimeError", want[1])


def test_uint8_class_ids_index_not_mask() -> None:
    """A uint8 target [0, 2] picks classes 0 and 2 (it was read as a boolean mask)."""
    logp = bp.tensor([[0.0, -1.0, -2.0], [-3.0, -4.0, -5.0]])
    loss = bp.nn.functional.nll_loss(logp, bp.tensor([0, 2], dtype=bp.uint8), reduction="none")
    assert loss.tolist() == [0.0, 5.0]


# ------------------------------------------------------------------ regressions: interpolate, norms, ConvTranspose


def _convt_case(nd: int, shape: tuple[int, ...], request: str) -> Any:
    def case(L: Any) -> Any:
        m = getattr(L.nn, f"ConvTranspose{nd}d")(2, 1, 3, stride=(2, 3, 2)[:nd], padding=1, bias=False)
        with L.no_grad():
            m.weight.fill_(0.5)
        low = [(s - 1) * st - 2 + 3 for s, st in zip(shape[-nd:], m.stride)]
        sizes = {
            "largest": [lo + st - 1 for lo, st in zip(low, m.stride)],
            "with batch and channels": [*shape[: -nd - 1], 1, *low],
            "too large": [lo + 5 for lo in low],
            "wrong length": [3] * (nd + 3),
            "batch dims for an unbatched input": [1, 1, *low],
        }
        return m(L.ones(*shape), output_size=sizes[request])

    return case


_MESSAGE_CASES = {
    "interpolate without size or scale_factor": lambda L: L.nn.functional.interpolate(L.ones(1, 1, 4, 4)),
    "interpolate with both": lambda L: L.nn.functional.interpolate(L.ones(1, 1, 4, 4), size=2, scale_factor=2),
    "Upsample without size or scale_factor": lambda L: L.nn.Upsample()(L.ones(1, 1, 4, 4)),
    "BatchNorm1d on one sample": lambda L: L.nn.BatchNorm1d(3)(L.ones(1, 3)),
    "BatchNorm2d on one pixel": lambda L: L.nn.BatchNorm2d(3)(L.ones(1, 3, 1, 1)),
    "F.batch_norm on one sample": lambda L: L.nn.functional.batch_norm(L.ones(1, 3), None, None, training=True),
    "InstanceNorm2d on one pixel": lambda L: L.nn.InstanceNorm2d(3)(L.ones(2, 3, 1, 1)),
    **{
        f"ConvTranspose{nd}d {shape} {request}": _convt_case(nd, shape, request)
        for nd, shape in [(1, (1, 2, 4)), (2, (1, 2, 4, 5)), (2, (2, 4, 5)), (3, (1, 2, 2, 3, 2))]
        for request in (
            "largest",
            "with batch and channels",
            "too large",
            "wrong length",
            "batch dims for an unbatched input",
        )
    },
}


@pytest.mark.parametrize("case", sorted(_MESSAGE_CASES))
def test_vision_errors_match_torch(case: str) -> None:
    got, want = _outcome(_MESSAGE_CASES[case], bp), _outcome(_MESSAGE_CASES[case], torch)
    if want[0] == "ok":
        assert got[0] == "ok", got
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    else:
        assert got == want
