"""Anchor-free YOLO-style detector for the six findings and burned-in text, exported in the output format of an
ultralytics YOLOv8 ONNX export: `images` [B,3,H,W] in 0..1 -> `output0` [B, 4+nc, N], rows cx,cy,w,h in input
pixels then one sigmoid score per class, no NMS in the graph (N = sum over strides 8,16,32 of (H/s)*(W/s))."""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dataset import DETECTOR_CLASSES, IMAGE_SIZE, PhantomSet
from .augment import jitter
from .layers import ConvBnAct, Residual, Stage, count_parameters
from .metrics import detection_map50

STRIDES = (8, 16, 32)


class Detector(nn.Module):
    def __init__(self, num_classes: int = len(DETECTOR_CLASSES), width: tuple[int, ...] = (16, 32, 48, 64, 96), neck: int = 48):
        super().__init__()
        w = width
        self.nc = num_classes
        self.stem = ConvBnAct(3, w[0], 3, 2)  # /2
        self.s2 = Stage(w[0], w[1], 1)  # /4
        self.s3 = Stage(w[1], w[2], 2)  # /8
        self.s4 = Stage(w[2], w[3], 2)  # /16
        self.s5 = Stage(w[3], w[4], 1)  # /32
        self.lat3 = ConvBnAct(w[2], neck, 1)
        self.lat4 = ConvBnAct(w[3], neck, 1)
        self.lat5 = ConvBnAct(w[4], neck, 1)
        self.fuse4 = nn.Sequential(ConvBnAct(neck, neck), Residual(neck))
        self.fuse3 = nn.Sequential(ConvBnAct(neck, neck), Residual(neck))
        self.down3 = ConvBnAct(neck, neck, 3, 2)
        self.pan4 = ConvBnAct(neck, neck)
        self.down4 = ConvBnAct(neck, neck, 3, 2)
        self.pan5 = ConvBnAct(neck, neck)
        self.box_heads = nn.ModuleList(nn.Sequential(ConvBnAct(neck, neck), nn.Conv2d(neck, 4, 1)) for _ in STRIDES)
        self.cls_heads = nn.ModuleList(nn.Sequential(ConvBnAct(neck, neck), nn.Conv2d(neck, num_classes, 1)) for _ in STRIDES)
        prior = -math.log((1 - 0.01) / 0.01)
        for head in self.cls_heads:
            nn.init.constant_(head[-1].bias, prior)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3 = self.s3(self.s2(self.stem(x)))
        c4 = self.s4(c3)
        c5 = self.s5(c4)
        p5 = self.lat5(c5)
        p4 = self.fuse4(self.lat4(c4) + F.interpolate(p5, scale_factor=2.0, mode="nearest"))
        p3 = self.fuse3(self.lat3(c3) + F.interpolate(p4, scale_factor=2.0, mode="nearest"))
        n4 = self.pan4(p4 + self.down3(p3))
        n5 = self.pan5(p5 + self.down4(n4))
        return [p3, n4, n5]

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-cell ltrb distances in pixels [B,N,4], class logits [B,N,nc], cell centres [N,2]."""
        ltrb, logits, centres = [], [], []
        for feat, stride, box_head, cls_head in zip(self.features(x), STRIDES, self.box_heads, self.cls_heads):
            b, _, h, w = feat.shape
            ltrb.append((F.softplus(box_head(feat)) * stride).flatten(2).transpose(1, 2))
            logits.append(cls_head(feat).flatten(2).transpose(1, 2))
            ys = (torch.arange(h, dtype=feat.dtype, device=feat.device) + 0.5) * stride
            xs = (torch.arange(w, dtype=feat.dtype, device=feat.device) + 0.5) * stride
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            centres.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1))
        return torch.cat(ltrb, 1), torch.cat(logits, 1), torch.cat(centres, 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        ltrb, logits, centres = self.raw(images)
        x0y0 = centres[None] - ltrb[..., :2]
        x1y1 = centres[None] + ltrb[..., 2:]
        cxcy = (x0y0 + x1y1) / 2
        wh = x1y1 - x0y0
        return torch.cat([cxcy, wh, torch.sigmoid(logits)], dim=2).transpose(1, 2)


def _level_for(size: float) -> int:
    return 0 if size < 40 else (1 if size < 96 else 2)


def assign(centres: torch.Tensor, level_of_cell: torch.Tensor, boxes: np.ndarray, classes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FCOS-style assignment: each box owns the cells of its level whose centre lies inside it and near its centre.
    Returns per-cell target box [N,4], class [N] (-1 = background), and positive mask [N]."""
    n = centres.shape[0]
    tbox = torch.zeros(n, 4)
    tcls = torch.full((n,), -1, dtype=torch.long)
    best_area = torch.full((n,), float("inf"))
    for box, cls in zip(boxes, classes):
        x0, y0, x1, y1 = [float(v) for v in box]
        w, h = x1 - x0, y1 - y0
        if w < 1 or h < 1:
            continue
        level = _level_for(math.sqrt(w * h))
        stride = STRIDES[level]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        radius = 2.5 * stride
        on_level = level_of_cell == level
        inside = (centres[:, 0] > x0) & (centres[:, 0] < x1) & (centres[:, 1] > y0) & (centres[:, 1] < y1)
        near = ((centres[:, 0] - cx).abs() < radius) & ((centres[:, 1] - cy).abs() < radius)
        cand = on_level & inside & near
        # a thin box (a text line, a pneumothorax rim) may contain no cell centre: keep the nearest cell
        d = (centres[:, 0] - cx) ** 2 + (centres[:, 1] - cy) ** 2
        d = torch.where(on_level, d, torch.full_like(d, float("inf")))
        cand[int(torch.argmin(d))] = True
        area = w * h
        take = cand & (area < best_area)
        tbox[take] = torch.tensor([x0, y0, x1, y1])
        tcls[take] = int(cls)
        best_area[take] = area
    return tbox, tcls, tcls >= 0


def giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x0 = torch.max(a[:, 0], b[:, 0]); y0 = torch.max(a[:, 1], b[:, 1])
    x1 = torch.min(a[:, 2], b[:, 2]); y1 = torch.min(a[:, 3], b[:, 3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    cw = torch.max(a[:, 2], b[:, 2]) - torch.min(a[:, 0], b[:, 0])
    ch = torch.max(a[:, 3], b[:, 3]) - torch.min(a[:, 1], b[:, 1])
    hull = cw * ch + 1e-7
    return iou - (hull - union) / hull, iou


def detection_loss(model: Detector, images: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], level_of_cell: torch.Tensor) -> torch.Tensor:
    ltrb, logits, centres = model.raw(images)
    tbox = torch.stack([t[0] for t in targets]).to(images.device)
    tcls = torch.stack([t[1] for t in targets]).to(images.device)
    pos = tcls >= 0
    num_pos = max(1.0, float(pos.sum()))
    pred_box = torch.cat([centres[None] - ltrb[..., :2], centres[None] + ltrb[..., 2:]], dim=2)
    quality = torch.zeros_like(logits)
    box_loss = images.new_zeros(())
    if pos.any():
        g, iou = giou(pred_box[pos], tbox[pos])
        box_loss = (1 - g).sum() / num_pos
        q = quality[pos]
        q[torch.arange(q.shape[0]), tcls[pos]] = iou.detach().clamp(min=0.05)
        quality[pos] = q
    # Quality focal loss (generalised focal loss): the score learns the IoU of its own box, which ranks well
    p = torch.sigmoid(logits)
    cls_loss = (F.binary_cross_entropy_with_logits(logits, quality, reduction="none") * (quality - p).abs().pow(2)).sum() / num_pos
    return cls_loss + 2.0 * box_loss


def _augment(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Small shift and exposure change; boxes shift with the image and are clipped to it."""
    out, dx, dy = jitter(img, rng)
    b = boxes.copy()
    if len(b):
        s = img.shape[0]
        b[:, [0, 2]] = np.clip(b[:, [0, 2]] + dx, 0, s)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]] + dy, 0, s)
    return out, b


def cell_levels(size: int = IMAGE_SIZE) -> torch.Tensor:
    return torch.cat([torch.full(((size // s) ** 2,), k, dtype=torch.long) for k, s in enumerate(STRIDES)])


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    order = np.argsort(-scores, kind="mergesort")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        rest = order[1:]
        x0 = np.maximum(boxes[i, 0], boxes[rest, 0]); y0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[i, 2], boxes[rest, 2]); y1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        iou = inter / np.maximum(area(boxes[i]) + area(boxes[rest]) - inter, 1e-9)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def postprocess(output0: np.ndarray, conf: float = 0.001, iou: float = 0.6, max_det: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's output0 [4+nc, N] -> boxes x0y0x1y1, scores, classes after per-class NMS (as ultralytics val)."""
    pred = output0.T
    xywh, scores = pred[:, :4], pred[:, 4:]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    out_b, out_s, out_c = [], [], []
    for c in range(scores.shape[1]):
        idx = np.where(scores[:, c] > conf)[0]
        if not len(idx):
            continue
        idx = idx[np.argsort(-scores[idx, c])[:1000]]
        keep = idx[nms(boxes[idx], scores[idx, c], iou)]
        out_b.append(boxes[keep]); out_s.append(scores[keep, c]); out_c.append(np.full(len(keep), c))
    if not out_b:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    b, s, c = np.concatenate(out_b), np.concatenate(out_s), np.concatenate(out_c)
    top = np.argsort(-s, kind="mergesort")[:max_det]
    return b[top], s[top], c[top]


def to_input(batch: np.ndarray) -> torch.Tensor:
    """Grey display images [B,S,S] -> [B,3,S,S] as an ultralytics export expects (RGB, 0..1)."""
    t = torch.from_numpy(batch)[:, None]
    return t.expand(-1, 3, -1, -1).contiguous()


def evaluate(model: Detector, data: PhantomSet, device: torch.device, batch: int = 16) -> dict[str, Any]:
    model.eval()
    preds, truths = [], []
    with torch.no_grad():
        for start in range(0, len(data), batch):
            out = model(to_input(data.images[start : start + batch]).to(device)).cpu().numpy()
            for k, o in enumerate(out):
                preds.append(postprocess(o))
                truths.append(data.boxes(start + k))
    m, per_class = detection_map50(preds, truths, len(DETECTOR_CLASSES))
    return {"mAP50": m, "AP50_per_class": {name: per_class[i] for i, name in enumerate(DETECTOR_CLASSES)}, "images": len(data)}


def train(
    train_set: PhantomSet,
    device: torch.device,
    steps: int,
    batch: int,
    seed: int,
    lr: float = 2e-3,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[Detector, dict[str, Any]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Detector().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    levels = cell_levels()
    cell_centres = model.raw(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, device=device))[2].detach().cpu()
    t0 = time.time()
    loss_avg = 0.0
    for step in range(steps):
        model.train()
        idx = rng.integers(0, len(train_set), batch)
        imgs, targets = [], []
        for i in idx:
            boxes, classes = train_set.boxes(int(i))
            img, boxes = _augment(train_set.images[int(i)], boxes, rng)
            imgs.append(img)
            targets.append(assign(cell_centres, levels, boxes, classes))
        loss = detection_loss(model, to_input(np.stack(imgs)).to(device), targets, levels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        sched.step()
        loss_avg = 0.95 * loss_avg + 0.05 * float(loss) if step else float(loss)
        if progress:
            progress(step + 1, steps, loss_avg)
    info = {"steps": steps, "batch": batch, "lr": lr, "parameters": count_parameters(model), "seconds": round(time.time() - t0, 1), "final_loss": loss_avg}
    return model.eval(), info
