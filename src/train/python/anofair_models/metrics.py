"""Held-out metrics (no scikit-learn in Debian's Python here): ROC-AUC, average precision, mAP@0.5, bootstrap CI."""
from __future__ import annotations

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney U formulation with average ranks for ties; NaN when one class is absent."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bootstrap_auc_ci(labels: np.ndarray, scores: np.ndarray, rounds: int = 200, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = []
    n = len(labels)
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        auc = roc_auc(labels[idx], scores[idx])
        if not np.isnan(auc):
            values.append(auc)
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between [N,4] and [M,4] boxes in x0,y0,x1,y1."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (the VOC 2010+/COCO-style envelope), as ultralytics computes it."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def detection_map50(
    predictions: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truths: list[tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> tuple[float, list[float]]:
    """predictions[i] = (boxes [K,4], scores [K], classes [K]); truths[i] = (boxes [G,4], classes [G]).
    Returns mAP over classes that have ground truth, and the per-class AP (NaN where a class has none)."""
    per_class = []
    for c in range(num_classes):
        records: list[tuple[float, bool]] = []
        n_truth = 0
        for (pb, ps, pc), (tb, tc) in zip(predictions, truths):
            t = tb[tc == c]
            n_truth += len(t)
            p_idx = np.where(pc == c)[0]
            p_idx = p_idx[np.argsort(-ps[p_idx], kind="mergesort")]
            matched = np.zeros(len(t), dtype=bool)
            ious = box_iou(pb[p_idx], t)
            for k, pi in enumerate(p_idx):
                hit = False
                if len(t):
                    j = int(np.argmax(np.where(matched, -1.0, ious[k])))
                    if not matched[j] and ious[k, j] >= iou_threshold:
                        matched[j] = True
                        hit = True
                records.append((float(ps[pi]), hit))
        if n_truth == 0:
            per_class.append(float("nan"))
            continue
        records.sort(key=lambda r: -r[0])
        hits = np.array([r[1] for r in records], dtype=np.float64)
        tp = np.cumsum(hits)
        fp = np.cumsum(1.0 - hits)
        recall = tp / n_truth if len(hits) else np.zeros(0)
        precision = tp / np.maximum(tp + fp, 1e-9) if len(hits) else np.zeros(0)
        per_class.append(average_precision(recall, precision))
    valid = [v for v in per_class if not np.isnan(v)]
    return (float(np.mean(valid)) if valid else float("nan")), per_class
