"""Detection and segmentation code as torch users write it without torchvision (the box and mask utilities of
YOLO/DETR/Mask R-CNN/U-Net repositories): each program is one function of the library module, run with torch 2.13
and with ``backprop`` standing in for it; values, dtypes, shapes, index results, warnings and errors agree. Each
program also carries the slip or corner case that differed: a (N, 1, H, W) mask given to ``cross_entropy``,
``meshgrid`` without ``indexing=``, ``F.interpolate`` of int64/bool masks and antialiased uint8 images, a boolean
mask of the wrong length, NaN grid points in ``grid_sample``."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import backprop as bp

torch = pytest.importorskip("torch", reason="these programs are compared with torch 2.13")

RNG = np.random.default_rng(2026)
XY = RNG.uniform(0, 50, (6, 2))
BOXES = np.concatenate([XY, XY + RNG.uniform(1, 30, (6, 2))], 1).astype(np.float32)
XY = RNG.uniform(0, 50, (4, 2))
GT = np.concatenate([XY, XY + RNG.uniform(1, 30, (4, 2))], 1).astype(np.float32)
SCORES = RNG.uniform(0, 1, 6).astype(np.float32)
LOGITS = RNG.normal(size=(2, 4, 6, 6)).astype(np.float32)
LABELS = RNG.integers(0, 4, (2, 6, 6))
LABELS[0, :2, :2] = 255  # an ignored region


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
    _same(program(torch), program(bp), tol)


def _error(call: Any) -> tuple[type, str]:
    try:
        call()
    except Exception as e:  # noqa: BLE001 (the class and text are what is compared)
        return type(e), str(e)
    raise AssertionError("no error")


def _same_error(program: Any) -> None:
    """torch's error class (ours may be a subclass of it) and text."""
    want, got = _error(lambda: program(torch)), _error(lambda: program(bp))
    assert issubclass(got[0], want[0]), (got, want)
    assert got[1] == want[1]


def _warned(call: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    return [str(w.message).split(" (Triggered internally")[0] for w in seen]


# ---------------------------------------------------------------- boxes: conversions, IoU, NMS, anchors


def box_area(b: Any) -> Any:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(lib: Any, a: Any, b: Any) -> tuple[Any, Any]:
    area1, area2 = box_area(a), box_area(b)
    lt = lib.max(a[:, None, :2], b[:, :2])
    rb = lib.min(a[:, None, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union, union


def generalized_box_iou(lib: Any, a: Any, b: Any) -> Any:
    iou, union = box_iou(lib, a, b)
    lt = lib.min(a[:, None, :2], b[:, :2])
    rb = lib.max(a[:, None, 2:], b[:, 2:])
    area = (rb - lt).clamp(min=0).prod(2)
    return iou - (area - union) / area


def nms(lib: Any, boxes: Any, scores: Any, thr: float) -> Any:
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        if order.numel() == 1:
            keep.append(order.item())
            break
        i = order[0].item()
        keep.append(i)
        xx1, yy1 = x1[order[1:]].clamp(min=x1[i]), y1[order[1:]].clamp(min=y1[i])
        xx2, yy2 = x2[order[1:]].clamp(max=x2[i]), y2[order[1:]].clamp(max=y2[i])
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        idx = (iou <= thr).nonzero().squeeze()
        if idx.numel() == 0:
            break
        order = order[idx + 1]
    return lib.LongTensor(keep)


def test_box_conversions_iou_giou_and_nms() -> None:
    def program(lib: Any) -> Any:
        b = lib.tensor(BOXES)
        x0, y0, x1, y1 = b.unbind(-1)
        cxcywh = lib.stack([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0), (y1 - y0)], dim=-1)
        cx, cy, w, h = cxcywh.unbind(1)
        back = lib.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=1)
        iou, _ = box_iou(lib, b, lib.tensor(GT))
        keep = nms(lib, b, lib.tensor(SCORES), 0.3)
        return cxcywh, back, iou, generalized_box_iou(lib, b, lib.tensor(GT)), keep, b.index_select(0, keep)

    _both(program)
    # a score mask of the wrong length (the boxes of another image): torch's IndexError, not NumPy's text
    _same_error(lambda lib: lib.tensor(BOXES)[lib.tensor(SCORES[:4]) > 0.5])

    def write(lib: Any) -> None:
        lib.tensor(BOXES)[:, lib.tensor([True, False])] = 0

    _same_error(write)
    _same_error(lambda lib: lib.zeros(5, 2, 3)[None, lib.ones(4, dtype=lib.bool)])
    _same_error(lambda lib: lib.zeros(5, 2, 3, requires_grad=True)[0, ..., lib.tensor([True, False])])


def test_batched_nms_with_coordinate_offsets() -> None:
    def program(lib: Any) -> Any:
        boxes, scores, idxs = lib.tensor(BOXES), lib.tensor(SCORES), lib.tensor([0, 1, 0, 1, 1, 0])
        offsets = idxs.to(boxes) * (boxes.max() + lib.tensor(1).to(boxes))
        shifted = boxes + offsets[:, None]
        keep_mask = lib.zeros_like(scores, dtype=lib.bool)
        for class_id in lib.unique(idxs):
            curr = lib.where(idxs == class_id)[0]
            curr_keep = nms(lib, shifted[curr], scores[curr], 0.5)
            keep_mask[curr[curr_keep]] = True
        keep = lib.where(keep_mask)[0]
        return keep[scores[keep].sort(descending=True)[1]], keep_mask.nonzero(as_tuple=True), shifted

    _both(program)
    _same_error(lambda lib: lib.tensor(BOXES).flip([1, -1]))  # torch's "dim 1 appears multiple times"


def test_anchor_generation_with_meshgrid() -> None:
    def program(lib: Any) -> Any:
        scales, ratios = lib.as_tensor([32.0, 64.0]), lib.as_tensor([0.5, 1.0, 2.0])
        h_ratios = lib.sqrt(ratios)
        ws = (1 / h_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        base = (lib.stack([-ws, -hs, ws, hs], dim=1) / 2).round()
        shifts_x, shifts_y = lib.arange(0, 3, dtype=lib.int32) * 16, lib.arange(0, 2, dtype=lib.int32) * 16
        shift_y, shift_x = lib.meshgrid(shifts_y, shifts_x, indexing="ij")
        sx, sy = shift_x.reshape(-1), shift_y.reshape(-1)
        shifts = lib.stack((sx, sy, sx, sy), dim=1)
        yv, xv = lib.meshgrid([lib.arange(3), lib.arange(2)], indexing="xy")  # YOLO's grid
        return (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4), lib.stack((xv, yv), 2).float()

    _both(program)
    # without indexing=: torch's UserWarning ("ij" meant); torch gives it once per process, we once per call site
    xs = bp.arange(3.0)
    assert _warned(lambda: bp.meshgrid(xs, xs)) == [
        "torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument."
    ]
    assert _warned(lambda: bp.meshgrid(xs, xs, indexing="ij")) == []
    _same_error(lambda lib: lib.meshgrid(lib.arange(3), lib.arange(2.0), indexing="ij"))  # int64 with float32


def test_target_assignment_and_matching_costs() -> None:
    def program(lib: Any) -> Any:
        iou, _ = box_iou(lib, lib.tensor(GT), lib.tensor(BOXES))  # gt x anchors
        matched_vals, matches = iou.max(dim=0)
        labels = lib.where(matched_vals > 0.3, matches, lib.full_like(matches, -1))
        cls = lib.tensor([3, 1, 2, 0])
        onehot = lib.zeros(6, 5).scatter_(1, cls[matches].unsqueeze(1), 1.0)
        best = iou.argmax(dim=1)
        probs = lib.tensor(LOGITS[0, :, :, 0]).softmax(-1)  # 4 queries x 6 classes
        cost = 5 * lib.cdist(lib.tensor(BOXES[:4]), lib.tensor(GT), p=1) - probs[:, lib.tensor([1, 3, 0, 2])]
        parts = cost.view(1, 4, -1).cpu().split([3, 1], -1)
        return matched_vals, matches, labels, onehot, best, lib.gather(iou, 0, matches[None]), cost, parts

    _both(program)
    _same_error(lambda lib: lib.cdist(lib.tensor([[0, 1]]), lib.tensor([[1.0, 1.0]]), p=1))  # X1 got: Long
    _same_error(lambda lib: lib.cdist(lib.tensor([[0.0, 1.0]]), lib.tensor([[1, 1]]), p=1))  # X2 got: Long


# ---------------------------------------------------------------- losses


def test_focal_giou_dice_and_lovasz_losses_with_gradients() -> None:
    def program(lib: Any) -> Any:
        F = lib.nn.functional
        x = lib.tensor(LOGITS, requires_grad=True)
        t = lib.tensor((LABELS == 1).astype(np.float32))[:, None].expand(2, 4, 6, 6)
        p = x.sigmoid()
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        focal = ((0.25 * t + 0.75 * (1 - t)) * ce * (1 - p_t) ** 2).sum() / t.sum().clamp(min=1)
        pred = lib.tensor(BOXES[:4], requires_grad=True)
        giou = (1 - lib.diag(generalized_box_iou(lib, pred, lib.tensor(GT)))).mean()
        masks = lib.tensor(LABELS[:, ::2, ::2]).clamp(max=3)[:, None]  # (half-resolution masks, U-Net style)
        target = F.interpolate(masks.float(), size=x.shape[-2:], mode="nearest").squeeze(1).long()
        probs = F.softmax(x, dim=1)
        onehot = F.one_hot(target, num_classes=4).permute(0, 3, 1, 2).float()
        inter, card = lib.sum(probs * onehot, (0, 2, 3)), lib.sum(probs + onehot, (0, 2, 3))
        dice = 1 - ((2.0 * inter + 1e-6) / (card + 1e-6)).mean()
        errors = (onehot[:, 1] - probs[:, 1]).abs().flatten()
        errors_sorted, perm = lib.sort(errors, 0, descending=True)
        fg = onehot[:, 1].flatten()[perm]
        gts = fg.sum()
        jaccard = 1.0 - (gts - fg.cumsum(0)) / (gts + (1 - fg).cumsum(0))
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
        lovasz = lib.dot(errors_sorted, jaccard)
        (focal + giou + dice + lovasz).backward()
        return focal, giou, dice, lovasz, x.grad, pred.grad, onehot

    _both(program, tol=1e-4)
    # the int64 masks resized as they are: torch's nearest kernel refuses them
    _same_error(
        lambda lib: lib.nn.functional.interpolate(lib.tensor(LABELS[:, None, ::2, ::2]), size=(6, 6), mode="nearest")
    )


def test_segmentation_cross_entropy_ignore_index_and_mask_shapes() -> None:
    def program(lib: Any) -> Any:
        F = lib.nn.functional
        x, t = lib.tensor(LOGITS, requires_grad=True), lib.tensor(LABELS)
        w = lib.tensor([1.0, 2.0, 0.5, 1.5])
        losses = [
            F.cross_entropy(x, t, ignore_index=255),
            F.cross_entropy(x, t, weight=w, ignore_index=255),
            lib.nn.CrossEntropyLoss(weight=w, ignore_index=255, label_smoothing=0.1)(x, t),
            F.nll_loss(F.log_softmax(x, 1), t, weight=w, ignore_index=255, reduction="sum"),
        ]
        sum(losses).backward()
        return losses, F.cross_entropy(x, t, weight=w, ignore_index=255, reduction="none"), x.grad

    _both(program)
    # a (N, 1, H, W) mask straight from a loader, and a (N, H, W, 1) one: torch's nll_loss2d error
    for shape in [(2, 1, 6, 6), (2, 6, 6, 1)]:
        _same_error(lambda lib, s=shape: lib.nn.functional.cross_entropy(lib.zeros(2, 4, 6, 6), lib.zeros(s).long()))
        _same_error(lambda lib, s=shape: lib.nn.functional.nll_loss(lib.zeros(2, 4, 6, 6), lib.zeros(s).long()))
    # 3-D volumes: torch's "Expected target size"
    _same_error(lambda lib: lib.nn.functional.cross_entropy(lib.zeros(2, 4, 3, 6, 6), lib.zeros(2, 1, 3, 6, 6).long()))


def test_confusion_matrix_and_miou() -> None:
    def program(lib: Any) -> Any:
        n = 4
        pred, t = lib.tensor(LOGITS).argmax(1), lib.tensor(LABELS)
        k = (t >= 0) & (t < n)
        hist = lib.bincount(n * t[k] + pred[k], minlength=n**2).reshape(n, n).float()
        iu = lib.diag(hist) / (hist.sum(1) + hist.sum(0) - lib.diag(hist))
        pm, gm = pred == 1, t == 1
        return (
            hist,
            iu,
            lib.nanmean(iu),
            (lib.diag(hist).sum() / hist.sum()).item(),
            (pm & gm).sum((1, 2)) / (pm | gm).sum((1, 2)),
        )

    _both(program)
    # a wrong-length mask writing a confusion row: torch's IndexError
    _same_error(lambda lib: lib.zeros(4, 4).__setitem__((lib.tensor([True, False, True]), 0), 1.0))


# ---------------------------------------------------------------- resizing: logits, masks, images


def test_interpolate_logits_and_masks() -> None:
    def program(lib: Any) -> Any:
        F = lib.nn.functional
        x = lib.tensor(LOGITS)
        mask = lib.tensor(LABELS).clamp(max=3)[:, None]
        return (
            F.interpolate(x, size=(9, 13), mode="bilinear", align_corners=False),
            F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True),
            F.interpolate(x, size=(4, 4), mode="bilinear", antialias=True),
            F.interpolate(mask.float(), size=(9, 13), mode="nearest").long(),
            F.interpolate(mask.to(lib.uint8), scale_factor=1.5, mode="nearest-exact"),
            F.interpolate((mask > 1).float(), size=(3, 3), mode="nearest").bool(),
        )

    _both(program)
    # torch's nearest kernels take floating point and uint8 only: int64, int32 and bool masks are its error
    for dtype in ("int64", "int32", "bool"):
        for shape in [(2, 1, 6, 6), (2, 1, 6), (1, 2, 1, 6, 6)]:
            for mode in ("nearest", "nearest-exact"):
                _same_error(
                    lambda lib, d=dtype, s=shape, m=mode: lib.nn.functional.interpolate(
                        lib.zeros(s, dtype=getattr(lib, d)), scale_factor=2, mode=m
                    )
                )
    for mode, shape, aa in [
        ("bilinear", (1, 2, 4, 4), False),
        ("bilinear", (1, 2, 4, 4), True),
        ("linear", (1, 2, 4), False),
    ]:
        _same_error(
            lambda lib, m=mode, s=shape, a=aa: lib.nn.functional.interpolate(
                lib.zeros(s, dtype=lib.long), scale_factor=2, mode=m, antialias=a
            )
        )
    for shape in [(1, 2, 4), (1, 2, 4, 4), (1, 2, 2, 4, 4)]:
        _same_error(
            lambda lib, s=shape: lib.nn.functional.interpolate(
                lib.zeros(s, dtype=lib.long), scale_factor=2, mode="area"
            )
        )
    # a (H, W) mask with a 2-D size: torch's ValueError about spatial dims (before its rank error)
    _same_error(lambda lib: lib.nn.functional.interpolate(lib.zeros(6, 6), size=(3, 3), mode="nearest"))
    _same_error(lambda lib: lib.nn.functional.interpolate(lib.zeros(3, 6, 6), size=(3, 3), mode="bilinear"))


def test_resize_by_a_scale_factor_that_keeps_or_doubles_a_size() -> None:
    """Multi-scale augmentation (``scale_factor=random.choice([0.9, 1.1, 2.1])``): torch's linear kernels copy a dim
    whose size the scale keeps (3 rows * 1.1 -> 3), and its 2-D nearest kernel copies it or reads ``i >> 1`` for a
    doubled one, whatever the scale. Ours weighed them by the scale: silently different pixels."""

    def program(lib: Any) -> Any:
        F = lib.nn.functional
        x = lib.tensor(LOGITS[:, :, :3])  # (2, 4, 3, 6)
        mask = lib.tensor(LABELS[:, None, :5, :5]).float()
        return (
            F.interpolate(x, scale_factor=1.1, mode="bilinear", align_corners=False),  # (3, 6): a copy
            F.interpolate(x, scale_factor=(1.1, 1.7), mode="bilinear", align_corners=False),
            F.interpolate(x[:, :, 0], scale_factor=1.1, mode="linear"),
            F.interpolate(x[:, :, None], scale_factor=1.1, mode="trilinear"),
            F.interpolate(mask, scale_factor=1.1, mode="nearest"),  # (5, 5): a copy
            F.interpolate(mask, scale_factor=2.1, mode="nearest"),  # (10, 10): i >> 1
            F.interpolate(mask, scale_factor=(2.1, 1.5), mode="nearest"),
            F.interpolate(mask.to(lib.uint8), scale_factor=2.1, mode="nearest"),
        )

    _both(program)


def test_resize_to_the_same_size_is_a_new_tensor() -> None:
    """``F.interpolate(mask, size=mask.shape[-2:])`` returned the mask itself: writing into the result changed it."""

    def program(lib: Any) -> Any:
        F = lib.nn.functional
        mask = lib.tensor(LABELS[:, None]).float()
        out = [F.interpolate(mask, size=(6, 6)), F.interpolate(mask, size=(6, 6), mode="bilinear", antialias=True)]
        for y in out:
            y[y > 0] = 1.0
        return mask, out

    _both(program)


def test_antialiased_resize_of_uint8_images() -> None:
    """torch's fixed-point uint8 kernels (weights scaled by 2**precision, each pass rounded and saturated)."""
    img = RNG.integers(0, 256, (2, 3, 13, 17)).astype(np.uint8)

    def program(lib: Any) -> Any:
        F = lib.nn.functional
        x = lib.tensor(img)
        return [
            F.interpolate(x, size=size, mode=mode, align_corners=ac, antialias=True)
            for mode in ("bilinear", "bicubic")
            for ac in (False, True)
            for size in [(5, 6), (26, 40), (13, 9), (30, 4)]
        ] + [F.interpolate(x[:, :1], scale_factor=(0.3, 0.7), mode="bilinear", antialias=True)]

    _both(program)


# ---------------------------------------------------------------- augmentations: affine/grid_sample, flips, mixing


THETA = np.array([[[0.93, -0.17, 0.11], [0.29, 1.13, -0.23]], [[1.21, 0.03, 0.47], [-0.02, 0.83, 0.07]]], np.float32)


def test_affine_grid_sample_and_flip_augmentations() -> None:
    def program(lib: Any) -> Any:
        F = lib.nn.functional
        out = []
        for ac in (False, True):
            theta, x = lib.tensor(THETA, requires_grad=True), lib.tensor(LOGITS[:, :3], requires_grad=True)
            grid = F.affine_grid(theta, x.shape, align_corners=ac)
            loss = 0
            for pad in ("zeros", "border", "reflection"):
                y = F.grid_sample(x, grid, mode="bilinear", padding_mode=pad, align_corners=ac)
                loss = loss + (y * y).sum()
                out += [y, F.grid_sample(x, grid, mode="nearest", padding_mode=pad, align_corners=ac)]
            loss.backward()
            out += [grid, x.grad, theta.grad]
        img, boxes = lib.tensor(LOGITS), lib.tensor(BOXES)
        flipped = boxes.clone()
        flipped[:, [0, 2]] = 64 - boxes[:, [2, 0]]
        return out, img.flip(-1), lib.flip(img, dims=(2, 3)), lib.fliplr(img[0, 0]), flipped

    _both(program, tol=1e-4)
    size = (2, 3, 5, 8)
    _same_error(lambda lib: lib.nn.functional.affine_grid(lib.tensor(THETA)[:, :1], size, align_corners=False))
    _same_error(lambda lib: lib.nn.functional.affine_grid(lib.tensor(THETA), lib.Size(size[:3]), align_corners=False))
    _same_error(lambda lib: lib.nn.functional.affine_grid(lib.tensor(THETA).long(), size, align_corners=False))
    _same_error(lambda lib: lib.nn.functional.affine_grid(lib.tensor(THETA), (3, 3, 5, 8), align_corners=False))


def test_grid_sample_of_nan_and_infinite_points() -> None:
    """A degenerate box makes NaN grid points: torch's kernels clamp NaN to pixel 0 under border/reflection padding
    (a reflected infinite point too) and give NaN under zeros padding (bilinear). Forward only: torch's backward
    crashes on them."""
    grid = np.array([[[[np.nan, 0.3], [0.2, np.inf], [-np.inf, 0.0], [np.nan, np.nan], [np.inf, -0.7]]]], np.float32)
    img = np.arange(24.0, dtype=np.float32).reshape(1, 2, 3, 4)

    def program(lib: Any) -> Any:
        return [
            lib.nn.functional.grid_sample(
                lib.tensor(img), lib.tensor(grid), mode=mode, padding_mode=pad, align_corners=ac
            )
            for ac in (False, True)
            for pad in ("zeros", "border", "reflection")
            for mode in ("bilinear", "nearest", "bicubic")
        ]

    want, got = program(torch), program(bp)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)  # (NaN where torch has NaN)


def test_roi_pooling_and_cutmix_mosaic() -> None:
    def program(lib: Any) -> Any:
        F = lib.nn.functional
        feat = lib.tensor(LOGITS, requires_grad=True)
        rois = lib.tensor([[0, 0.5, 1.2, 4.7, 5.1], [1, 2.0, 0.0, 5.9, 3.3]])
        pooled = []
        for r in rois:
            x1, y1, x2, y2 = r[1:].round().long().tolist()
            pooled.append(F.adaptive_max_pool2d(feat[int(r[0].item()), :, y1 : y2 + 1, x1 : x2 + 1], (2, 2)))
        pooled = lib.stack(pooled)
        pooled.sum().backward()
        lib.manual_seed(0)
        x, y = lib.tensor(LOGITS), F.one_hot(lib.tensor([0, 3]), 4).float()
        perm = lib.randperm(x.size(0))
        mixed = x.clone()
        mixed[:, :, 1:4, 2:5] = x[perm, :, 1:4, 2:5]
        canvas = lib.full((4, 12, 12), 114 / 255.0)
        canvas[:, :6, :6], canvas[:, 6:, 6:] = x[0], x[1]
        return pooled, feat.grad, perm, mixed, 0.7 * y + 0.3 * y[perm], (canvas * 255).round().to(lib.uint8)

    _both(program)
    # a keep-mask of the mosaic's boxes used on the wrong tensor: torch's IndexError names both shapes
    _same_error(lambda lib: lib.zeros(4, 12, 12)[:, lib.tensor([True] * 11)])
    # a box outside the feature map makes an empty crop: torch's texts, per pool
    for shape in [(4, 0, 3), (2, 4, 3, 0), (3, 4), (2, 0, 3, 3)]:  # (the max pool checks the channels too)
        _same_error(lambda lib, s=shape: lib.nn.functional.adaptive_max_pool2d(lib.zeros(s), (2, 2)))
        _same_error(lambda lib, s=shape: lib.nn.functional.adaptive_max_pool2d(lib.zeros(s), 2))
    for shape in [(4, 0, 3), (2, 4, 3, 0), (3, 4)]:
        _same_error(lambda lib, s=shape: lib.nn.functional.adaptive_avg_pool2d(lib.zeros(s), (2, 2)))
        _same_error(lambda lib, s=shape: lib.nn.functional.adaptive_avg_pool2d(lib.zeros(s), 2))


def test_empty_batches_through_grid_sample() -> None:
    """A batch with no RoIs (DETR's and Mask R-CNN's heads meet them): empty results of the right shapes."""

    def program(lib: Any) -> Any:
        F = lib.nn.functional
        feat = lib.zeros(0, 3, 4, 4, requires_grad=True)
        grid = lib.zeros(0, 2, 2, 2)
        out = [F.grid_sample(feat, grid, mode=mode, align_corners=False) for mode in ("bilinear", "nearest", "bicubic")]
        sum(o.sum() for o in out).backward()
        return out, feat.grad, F.interpolate(feat, size=(8, 8), mode="bilinear", align_corners=False)

    _both(program)
