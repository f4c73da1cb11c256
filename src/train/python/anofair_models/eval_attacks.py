"""The evaluation's trained attacks and realism measures (`anofair eval` runs this module).

Input: a folder from the evaluation, with two splits of patients that share no patient: `attack` (the attacker's
training split) and `test` (held out). For each split, display images at 256x256 in [0, 1] of the originals and
of their released (anonymized) versions, the mask of pixels released unchanged, and the patients and attributes.

Everything trained here is trained on the attack split only and scored on the test split; the evaluation computes
the AUCs and their patient-bootstrap intervals from the scores written out, with the same code as its other
numbers. Trained here:
- the PriCheXy-Net protocol: the Siamese verifier retrained on (anonymized, original) pairs of the attack split,
  then scored on the test pairs the evaluation chose (image 1 anonymized, image 2 original);
- a kept-region-aware Siamese attack: the same, on images reduced to the pixels released unchanged (the attacker
  knows the mask and applies it to the candidate original);
- attribute judges retrained on released images with the true labels: whether sex and age stay readable when a
  judge may learn what regeneration looks like;
- a real-versus-released discriminator, and as its floor a real-versus-VAE-round-trip one (what the latent
  space alone costs);
- the Fréchet distance between the diagnostic classifier's features of originals and of released images (and of
  VAE round trips, the floor), with a patient-bootstrap interval.

The backbones start from the shipped attribute judge's weights when given (an attacker starts from a pretrained
network too, as PriCheXy-Net from ImageNet); the seeds are recorded in the output.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import jitter_batch
from .classifier_training import attribute_input, balanced_pairs, diagnostic_input
from .classifiers import AttributeClassifier, Backbone, DiagnosticClassifier, SiameseReid
from .metrics import roc_auc

SIZE = 256
# share of the verifiers' training pairs that are two originals: without them, fine-tuning on released images
# makes the network forget how to verify at all, and a weak attacker's "cannot link" proves nothing
ANCHOR_SHARE = 0.25


class Split:
    def __init__(self, folder: Path, name: str, meta: dict[str, Any]):
        n = int(meta["count"])
        self.n = n
        self.patients: list[str] = meta["patients"]
        self.male = np.asarray(meta["male"], dtype=np.float32)
        self.old = np.asarray(meta["old"], dtype=np.float32)
        read = lambda part, dtype: np.fromfile(folder / f"{name}-{part}.bin", dtype=dtype).reshape(n, SIZE, SIZE)
        self.original = read("original", np.float32)
        self.released = read("released", np.float32)
        self.kept = read("kept", np.uint8).astype(np.float32)

    def by_patient(self) -> dict[str, list[int]]:
        by: dict[str, list[int]] = {}
        for i, p in enumerate(self.patients):
            by.setdefault(p, []).append(i)
        return by


def log(kind: str, **fields: Any) -> None:
    """One JSON line per event on stderr: the evaluation shows them as progress."""
    sys.stderr.write(json.dumps({"event": kind, **fields}) + "\n")
    sys.stderr.flush()


def train_loop(model: nn.Module, step_fn: Callable[[], torch.Tensor], steps: int, lr: float, label: str) -> dict[str, Any]:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    t0 = time.time()
    avg = 0.0
    every = max(1, steps // 20)
    for step in range(steps):
        model.train()
        loss = step_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        avg = 0.9 * avg + 0.1 * float(loss) if step else float(loss)
        if (step + 1) % every == 0 or step + 1 == steps:
            log("step", attack=label, step=step + 1, steps=steps, loss=round(avg, 4))
    model.eval()
    return {"steps": steps, "lr": lr, "final_loss": round(avg, 4), "seconds": round(time.time() - t0, 1)}


def pretrained_backbone(attributes_pt: Path | None) -> Backbone:
    """The attribute judge's backbone (same widths as AttributeClassifier), its weights when shipped."""
    judge = AttributeClassifier()
    if attributes_pt is not None:
        judge.load_state_dict(torch.load(attributes_pt, map_location="cpu", weights_only=False)["state_dict"])
    return judge.backbone


def shipped_verifier(reid_folder: Path) -> SiameseReid | None:
    """The shipped re-identification network (reid/embedding.onnx, reid/head.onnx) as a trainable SiameseReid: the
    export folded each batch norm into its convolution, so the replica has biased convolutions and no batch norm,
    loaded in graph order. None when the files are missing or do not fit the architecture (another network)."""
    import onnx
    from onnx import numpy_helper

    from .layers import ConvBnAct

    emb, head = reid_folder / "embedding.onnx", reid_folder / "head.onnx"
    if not emb.exists() or not head.exists():
        return None
    net = SiameseReid()
    convs: list[nn.Conv2d] = []
    for m in net.modules():
        if isinstance(m, ConvBnAct):
            old = m[0]
            m[0] = nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, groups=old.groups, bias=True)
            m[1] = nn.Identity()
            convs.append(m[0])
    graph = onnx.load(str(emb)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded = [(inits[n.input[1]], inits[n.input[2]]) for n in graph.node if n.op_type == "Conv" and len(n.input) == 3]
    if len(folded) != len(convs) or any(w.shape != tuple(c.weight.shape) for (w, _), c in zip(folded, convs)):
        return None
    heads = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(head)).graph.initializer}
    with torch.no_grad():
        for (w, b), c in zip(folded, convs):
            c.weight.copy_(torch.from_numpy(w.copy()))
            c.bias.copy_(torch.from_numpy(b.copy()))
        net.embed.weight.copy_(torch.from_numpy(inits["net.embed.weight"].copy()))
        net.embed.bias.copy_(torch.from_numpy(inits["net.embed.bias"].copy()))
        net.head.weight.copy_(torch.from_numpy(heads["net.head.weight"].copy()))
        net.head.bias.copy_(torch.from_numpy(heads["net.head.bias"].copy()))
    return net.eval()


class Verifier(nn.Module):
    """PriCheXy-Net's verification design: shared backbone -> sigmoid embedding; |e1 - e2| -> logit."""

    def __init__(self, backbone: Backbone, dim: int = 128):
        super().__init__()
        self.backbone = backbone
        self.embed = nn.Linear(backbone.out_channels, dim)
        self.head = nn.Linear(dim, 1)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.embed(self.backbone(x)))

    def pair_logit(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head((a - b).abs()).squeeze(1)


def verifier_attack(attack: Split, test: Split, pairs: np.ndarray, labels: np.ndarray, *, masked: bool, steps: int, batch: int, seed: int, attributes_pt: Path | None, reid: Path | None, label: str) -> dict[str, Any]:
    """Train on (released a, original b) pairs of the attack split, half of the same patient; score the test pairs.
    masked: both images reduced to the released image's kept pixels (regenerated pixels set to 0).
    The network starts from the shipped verifier (trained on originals) when there is one, as PriCheXy-Net's
    retraining does; else from the attribute judge's backbone."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shipped = shipped_verifier(reid) if reid else None
    model: nn.Module = shipped if shipped is not None else Verifier(pretrained_backbone(attributes_pt))
    lr = 3e-4 if shipped is not None else 1e-3
    by = attack.by_patient()
    multi = [v for v in by.values() if len(v) >= 2]
    if not multi or len(by) < 2:
        raise ValueError("the attack split needs at least two patients, some with two images")
    if masked:
        usable = [v for v in multi if any(attack.kept[i].any() for i in v)]
        multi = usable or multi

    def view(split: Split, released: list[int], original: list[int], train: bool, first: str = "released", anchors: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a = (split.released if first == "released" else split.original)[released]
        if anchors is not None and anchors.any():
            # pairs of two originals among the released ones: the attacker keeps what it knows of the patients
            a = np.where(anchors[:, None, None], split.original[released], a)
        b = split.original[original]
        if train:
            # the same jitter for both members of a pair would teach nothing; each image gets its own
            a, b = jitter_batch(a, rng, noise=0.0), jitter_batch(b, rng, noise=0.0)
        if masked:
            m = split.kept[released]
            a, b = a * m, b * m
        return attribute_input(a.astype(np.float32)), attribute_input(b.astype(np.float32))

    def step() -> torch.Tensor:
        half = batch // 2
        ra, ob = balanced_pairs(multi, attack.patients, batch, rng)
        xa, xb = view(attack, ra, ob, True, anchors=rng.random(batch) < ANCHOR_SHARE)
        y = torch.tensor([1.0] * half + [0.0] * (batch - half))
        return F.binary_cross_entropy_with_logits(model.pair_logit(model.embedding(xa), model.embedding(xb)), y)

    def score(first: str) -> list[float]:
        out = []
        with torch.no_grad():
            for s in range(0, len(pairs), 64):
                chunk = pairs[s : s + 64]
                xa, xb = view(test, [int(i) for i in chunk[:, 0]], [int(j) for j in chunk[:, 1]], False, first)
                out.append(torch.sigmoid(model.pair_logit(model.embedding(xa), model.embedding(xb))).numpy())
        return np.concatenate(out).round(6).tolist() if out else []

    start = roc_auc(labels, np.asarray(score("original"))) if len(pairs) else float("nan")
    log("start-auc", attack=label, auc_originals=round(float(start), 4))
    info = train_loop(model, step, steps, lr, label)
    # the same network on pairs of originals: evidence that it can verify at all, so that a low score on released
    # images is the release's doing and not a weak attacker's
    return {**info, "batch_pairs": batch, "seed": seed, "init": "shipped verifier" if shipped is not None else "attribute judge backbone", "start_auc_originals": round(float(start), 4),
            "scores": score("released"), "scores_originals": score("original")}


def retrained_attributes(attack: Split, test: Split, *, steps: int, batch: int, seed: int, attributes_pt: Path | None) -> dict[str, Any]:
    """The attribute judge fine-tuned on released images of the attack split (true labels); test: released images."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AttributeClassifier()
    if attributes_pt is not None:
        model.load_state_dict(torch.load(attributes_pt, map_location="cpu", weights_only=False)["state_dict"])
    targets = torch.from_numpy(np.stack([attack.male, attack.old], 1))

    def step() -> torch.Tensor:
        idx = rng.integers(0, attack.n, batch)
        x = attribute_input(jitter_batch(attack.released[idx], rng))
        return F.binary_cross_entropy_with_logits(model.logits(x), targets[idx])

    info = train_loop(model, step, steps, 1e-3, "attributes")
    with torch.no_grad():
        p = np.concatenate([model(attribute_input(test.released[s : s + 64])).numpy() for s in range(0, test.n, 64)])
    return {**info, "batch": batch, "seed": seed, "scores": p.round(6).tolist()}


class Discriminator(nn.Module):
    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)).squeeze(1)


def discriminator(attack_real: np.ndarray, attack_fake: np.ndarray, test_real: np.ndarray, test_fake: np.ndarray, *, steps: int, batch: int, seed: int, attributes_pt: Path | None, label: str) -> dict[str, Any]:
    """Real (0) against regenerated (1): trained on the attack split, scores of the test split's images."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Discriminator(pretrained_backbone(attributes_pt))

    def step() -> torch.Tensor:
        half = batch // 2
        r = attack_real[rng.integers(0, len(attack_real), half)]
        f = attack_fake[rng.integers(0, len(attack_fake), batch - half)]
        # no exposure jitter: a global brightness difference is a fair tell, and the attacker may use it
        x = attribute_input(np.concatenate([jitter_batch(r, rng, gamma_sigma=0.0, noise=0.0), jitter_batch(f, rng, gamma_sigma=0.0, noise=0.0)]))
        y = torch.tensor([0.0] * half + [1.0] * (batch - half))
        return F.binary_cross_entropy_with_logits(model(x), y)

    info = train_loop(model, step, steps, 1e-3, label)
    score = lambda imgs: np.concatenate([torch.sigmoid(model(attribute_input(imgs[s : s + 64]))).detach().numpy() for s in range(0, len(imgs), 64)])
    with torch.no_grad():
        return {**info, "batch": batch, "seed": seed, "real": score(test_real).round(6).tolist(), "regenerated": score(test_fake).round(6).tolist()}


def vae_round_trip(images01: np.ndarray, inpaint_folder: Path) -> np.ndarray:
    """Encode (mean) and decode each image with the inpainting model's own VAE, as the pipeline does."""
    from .torch_weights import load_vae

    vae = load_vae(inpaint_folder)
    out = []
    with torch.no_grad():
        for s in range(0, len(images01), 16):
            x = torch.from_numpy(np.ascontiguousarray(images01[s : s + 16]))[:, None].repeat(1, 3, 1, 1) * 2 - 1
            mean, _ = vae.parameters_of(x)
            out.append(((vae.decoder(mean).mean(1) + 1) / 2).clamp(0, 1).numpy())
    return np.concatenate(out).astype(np.float32)


def diagnostic_features(images01: np.ndarray, diagnostic_pt: Path) -> np.ndarray:
    model = DiagnosticClassifier()
    model.load_state_dict(torch.load(diagnostic_pt, map_location="cpu", weights_only=False)["state_dict"])
    model.eval()
    with torch.no_grad():
        return np.concatenate([model.backbone(diagnostic_input(images01[s : s + 64]) / 1024.0).numpy() for s in range(0, len(images01), 64)]).astype(np.float64)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa Sb)^1/2); tr((Sa Sb)^1/2) from the eigenvalues of Sa^1/2 Sb Sa^1/2."""
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root @ sb @ root)
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.clip(cross, 0, None)).sum())


def frechet_interval(reference: np.ndarray, other: np.ndarray, patients: list[str], resamples: int, seed: int) -> dict[str, float]:
    """Point estimate and 95% percentile interval over patients (images of a drawn patient resampled together)."""
    by: dict[str, list[int]] = {}
    for i, p in enumerate(patients):
        by.setdefault(p, []).append(i)
    groups = list(by.values())
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        values.append(frechet(reference[idx], other[idx]))
    return {"estimate": round(frechet(reference, other), 4), "lo": round(float(np.percentile(values, 2.5)), 4), "hi": round(float(np.percentile(values, 97.5)), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=300, help="training steps of each verifier and discriminator")
    ap.add_argument("--attribute-steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--seed", type=int, default=20262)
    ap.add_argument("--frechet-resamples", type=int, default=200)
    ap.add_argument("--attributes-pt", type=Path, help="the shipped attribute judge's PyTorch weights (pretrained backbone)")
    ap.add_argument("--diagnostic-pt", type=Path, help="the diagnostic classifier's PyTorch weights (Fréchet features)")
    ap.add_argument("--reid", type=Path, help="the shipped re-identification folder (embedding.onnx, head.onnx): the verifiers start from it")
    ap.add_argument("--inpaint", type=Path, help="the inpainting model folder (VAE round trip, the floor)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = json.loads((args.input / "meta.json").read_text())
    if meta.get("size") != SIZE:
        raise SystemExit(f"{args.input}/meta.json: size must be {SIZE}")
    attack, test = Split(args.input, "attack", meta["attack"]), Split(args.input, "test", meta["test"])
    if set(attack.patients) & set(test.patients):
        raise SystemExit("the attack and test splits share a patient: the attack would be tested on its training data")
    pairs = np.asarray(meta["test_pairs"], dtype=np.int64).reshape(-1, 2)
    labels = np.asarray([test.patients[a] == test.patients[b] for a, b in pairs], dtype=np.float32)
    pt = args.attributes_pt if args.attributes_pt and args.attributes_pt.exists() else None
    s = args.seed
    out: dict[str, Any] = {"seed": s, "attack_images": attack.n, "attack_patients": len(set(attack.patients)), "pretrained_backbone": pt is not None}
    log("start", attack="verifier")
    out["verifier"] = verifier_attack(attack, test, pairs, labels, masked=False, steps=args.steps, batch=args.batch, seed=s, attributes_pt=pt, reid=args.reid, label="verifier")
    log("start", attack="kept-region verifier")
    out["kept_verifier"] = verifier_attack(attack, test, pairs, labels, masked=True, steps=args.steps, batch=args.batch, seed=s + 1, attributes_pt=pt, reid=args.reid, label="kept-region verifier")
    log("start", attack="attributes")
    out["attributes"] = retrained_attributes(attack, test, steps=args.attribute_steps, batch=args.batch, seed=s + 2, attributes_pt=pt)
    log("start", attack="realism")
    out["realism"] = discriminator(attack.original, attack.released, test.original, test.released, steps=args.steps, batch=args.batch, seed=s + 3, attributes_pt=pt, label="realism")
    if args.inpaint and (args.inpaint / "vae_encoder" / "model.onnx").exists():
        log("start", attack="realism floor (VAE round trip)")
        attack_vae, test_vae = vae_round_trip(attack.original, args.inpaint), vae_round_trip(test.original, args.inpaint)
        out["realism_floor"] = discriminator(attack.original, attack_vae, test.original, test_vae, steps=args.steps, batch=args.batch, seed=s + 3, attributes_pt=pt, label="realism floor")
    else:
        test_vae = None
    if args.diagnostic_pt and args.diagnostic_pt.exists():
        log("start", attack="frechet")
        fo, fr = diagnostic_features(test.original, args.diagnostic_pt), diagnostic_features(test.released, args.diagnostic_pt)
        out["frechet"] = {"features": int(fo.shape[1]), "resamples": args.frechet_resamples, "seed": s + 4, "released": frechet_interval(fo, fr, test.patients, args.frechet_resamples, s + 4)}
        if test_vae is not None:
            out["frechet"]["vae_round_trip"] = frechet_interval(fo, diagnostic_features(test_vae, args.diagnostic_pt), test.patients, args.frechet_resamples, s + 4)
    args.out.write_text(json.dumps(out) + "\n")
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
