"""Training and held-out evaluation of the attribute, diagnostic and re-identification networks."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .augment import jitter_batch
from .classifiers import AttributeClassifier, DiagnosticClassifier, SiameseReid
from .dataset import FINDINGS, PhantomSet
from .layers import count_parameters
from .metrics import bootstrap_auc_ci, roc_auc

Progress = Callable[[int, int, float], None]
XRV_SIZE = 224


def attribute_input(images01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images01))[:, None]


def diagnostic_input(images01: np.ndarray) -> torch.Tensor:
    """TorchXRayVision's convention: 224x224, one channel, [-1024, 1024] (white = +1024)."""
    t = torch.from_numpy(np.ascontiguousarray(images01))[:, None]
    t = F.interpolate(t, size=(XRV_SIZE, XRV_SIZE), mode="bilinear", align_corners=False)
    return t * 2048.0 - 1024.0


def _loop(model: torch.nn.Module, step_fn: Callable[[int], torch.Tensor], steps: int, lr: float, progress: Progress | None) -> tuple[float, float]:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    t0 = time.time()
    avg = 0.0
    for step in range(steps):
        model.train()
        loss = step_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        avg = 0.95 * avg + 0.05 * float(loss) if step else float(loss)
        if progress:
            progress(step + 1, steps, avg)
    model.eval()
    return avg, round(time.time() - t0, 1)


def predict(model: torch.nn.Module, inputs: Callable[[np.ndarray], torch.Tensor], images01: np.ndarray, device: torch.device, batch: int = 32) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images01), batch):
            out.append(model(inputs(images01[s : s + batch]).to(device)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,))


def train_attributes(data: PhantomSet, device: torch.device, steps: int, batch: int, seed: int, lr: float = 3e-3, progress: Progress | None = None) -> tuple[AttributeClassifier, dict[str, Any]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AttributeClassifier().to(device)
    targets = torch.from_numpy(np.stack([data.labels("male"), data.labels("old")], 1))

    def step(_: int) -> torch.Tensor:
        idx = rng.integers(0, len(data), batch)
        x = attribute_input(jitter_batch(data.images[idx], rng)).to(device)
        return F.binary_cross_entropy_with_logits(model.logits(x), targets[idx].to(device))

    loss, secs = _loop(model, step, steps, lr, progress)
    return model, {"steps": steps, "batch": batch, "lr": lr, "parameters": count_parameters(model), "seconds": secs, "final_loss": loss}


def evaluate_attributes(model: AttributeClassifier, data: PhantomSet, device: torch.device) -> dict[str, Any]:
    p = predict(model, attribute_input, data.images, device)
    out: dict[str, Any] = {"images": len(data)}
    for k, (name, attr) in enumerate([("sex", "male"), ("age_group", "old")]):
        y = data.labels(attr)
        lo, hi = bootstrap_auc_ci(y, p[:, k])
        out[name] = {"auc": roc_auc(y, p[:, k]), "auc_ci95": [lo, hi], "accuracy": float(((p[:, k] > 0.5) == (y > 0.5)).mean()), "positive_rate_true": float(y.mean()), "positive_rate_predicted": float((p[:, k] > 0.5).mean())}
    return out


def train_diagnostic(data: PhantomSet, device: torch.device, steps: int, batch: int, seed: int, lr: float = 3e-3, progress: Progress | None = None) -> tuple[DiagnosticClassifier, dict[str, Any]]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DiagnosticClassifier().to(device)
    y = torch.from_numpy(data.labels("findings"))
    # Positive weights balance each finding's rare positives against its negatives (prevalence ~13% here).
    prevalence = y.mean(0).clamp(0.02, 0.98)
    pos_weight = ((1 - prevalence) / prevalence).clamp(max=8.0).to(device)

    def step(_: int) -> torch.Tensor:
        idx = rng.integers(0, len(data), batch)
        x = diagnostic_input(jitter_batch(data.images[idx], rng)).to(device)
        return F.binary_cross_entropy_with_logits(model.logits(x), y[idx].to(device), pos_weight=pos_weight)

    loss, secs = _loop(model, step, steps, lr, progress)
    return model, {"steps": steps, "batch": batch, "lr": lr, "parameters": count_parameters(model), "seconds": secs, "final_loss": loss, "pos_weight": pos_weight.cpu().tolist()}


def evaluate_diagnostic(model: DiagnosticClassifier, data: PhantomSet, device: torch.device) -> dict[str, Any]:
    p = predict(model, diagnostic_input, data.images, device)
    y = data.labels("findings")
    per = {}
    for k, name in enumerate(model.pathologies):
        lo, hi = bootstrap_auc_ci(y[:, k], p[:, k])
        per[name] = {"auc": roc_auc(y[:, k], p[:, k]), "auc_ci95": [lo, hi], "positives": int(y[:, k].sum())}
    aucs = [v["auc"] for v in per.values() if not np.isnan(v["auc"])]
    return {"images": len(data), "per_finding": per, "mean_auc": float(np.mean(aucs)) if aucs else float("nan"), "min_auc": float(np.min(aucs)) if aucs else float("nan")}


def _patients(data: PhantomSet) -> dict[str, list[int]]:
    by: dict[str, list[int]] = {}
    for i, r in enumerate(data.records):
        by.setdefault(r.patient_id, []).append(i)
    return by


def balanced_pairs(multi: list[list[int]], patients: list[str], batch: int, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """batch // 2 pairs of two images of one patient (from `multi`, patients with two or more), then pairs of two
    patients drawn at random; image indices into `patients`."""
    a: list[int] = []
    b: list[int] = []
    for _ in range(batch // 2):
        imgs = multi[rng.integers(0, len(multi))]
        i, j = rng.choice(len(imgs), 2, replace=False)
        a.append(imgs[i]); b.append(imgs[j])
    for _ in range(batch - batch // 2):
        i, j = rng.integers(0, len(patients), 2)
        while patients[i] == patients[j]:
            j = rng.integers(0, len(patients))
        a.append(int(i)); b.append(int(j))
    return a, b


def train_reid(data: PhantomSet, device: torch.device, steps: int, batch: int, seed: int, lr: float = 2e-3, progress: Progress | None = None) -> tuple[SiameseReid, dict[str, Any]]:
    """Balanced pairs: half two images of one patient, half images of two patients; BCE on the pair logit."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SiameseReid().to(device)
    by = _patients(data)
    multi = [v for v in by.values() if len(v) >= 2]
    if not multi or len(by) < 2:
        raise ValueError("re-identification needs at least two patients, some with two images, in the training split")

    patients = [r.patient_id for r in data.records]

    def step(_: int) -> torch.Tensor:
        half = batch // 2
        a, b = balanced_pairs(multi, patients, batch, rng)
        y = torch.tensor([1.0] * half + [0.0] * (batch - half), device=device)
        xa = attribute_input(jitter_batch(data.images[a], rng)).to(device)
        xb = attribute_input(jitter_batch(data.images[b], rng)).to(device)
        return F.binary_cross_entropy_with_logits(model(xa, xb), y)

    loss, secs = _loop(model, step, steps, lr, progress)
    return model, {"steps": steps, "batch_pairs": batch, "lr": lr, "parameters": count_parameters(model), "seconds": secs, "final_loss": loss, "training_patients": len(by), "patients_with_pairs": len(multi)}


def reid_pairs(data: PhantomSet, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every same-patient pair of the split, and as many different-patient pairs drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    pos = [(i, j) for v in _patients(data).values() for k, i in enumerate(v) for j in v[k + 1 :]]
    neg: list[tuple[int, int]] = []
    if len(_patients(data)) < 2:  # a tiny (smoke) split of one patient has no different-patient pair
        pos = []
    while len(neg) < len(pos):
        i, j = (int(v) for v in rng.integers(0, len(data), 2))
        if data.records[i].patient_id != data.records[j].patient_id:
            neg.append((i, j))
    pairs = np.array(pos + neg, dtype=np.int64).reshape(-1, 2)
    return pairs, np.array([1] * len(pos) + [0] * len(neg), dtype=np.float32)


def reid_scores(model: SiameseReid, images_a: np.ndarray, images_b: np.ndarray, pairs: np.ndarray, device: torch.device) -> np.ndarray:
    """Scores of pairs (i from images_a, j from images_b) via embeddings computed once per image."""
    embed = lambda imgs: np.concatenate([model.embedding(attribute_input(imgs[s : s + 32]).to(device)).detach().cpu().numpy() for s in range(0, len(imgs), 32)]) if len(imgs) else np.zeros((0, 128))
    model.eval()
    with torch.no_grad():
        ea = embed(images_a)
        eb = ea if images_b is images_a else embed(images_b)
        logits = model.pair_logit(torch.from_numpy(ea[pairs[:, 0]]).to(device), torch.from_numpy(eb[pairs[:, 1]]).to(device))
    return torch.sigmoid(logits).cpu().numpy()


def evaluate_reid(model: SiameseReid, data: PhantomSet, device: torch.device, seed: int) -> dict[str, Any]:
    pairs, y = reid_pairs(data, seed)
    s = reid_scores(model, data.images, data.images, pairs, device)
    lo, hi = bootstrap_auc_ci(y, s)
    return {"pairs": int(len(y)), "positive_pairs": int(y.sum()), "auc": roc_auc(y, s), "auc_ci95": [lo, hi], "accuracy": float(((s > 0.5) == (y > 0.5)).mean())}
