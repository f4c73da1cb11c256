"""How the inpainting model's output looks to the attribute judge: it should reproduce the training data's
demographic imbalance (the bias that the fairness adapter is later trained to remove)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .classifier_training import attribute_input, predict
from .classifiers import AttributeClassifier
from .dataset import PhantomSet
from .inpaint import anofair_masks, from_sample, inpaint, to_sample
from .text_encoder import TextEncoder
from .tokenizer import Tokenizer
from .unet import UNet
from .vae import AutoencoderKL


def _ratios(p: np.ndarray) -> dict[str, float]:
    return {"male": float((p[:, 0] > 0.5).mean()), "age>=60": float((p[:, 1] > 0.5).mean())}


def evaluate_inpainting(vae: AutoencoderKL, text: TextEncoder, unet: UNet, tokenizer: Tokenizer, judge: AttributeClassifier,
                        sets: dict[str, PhantomSet], device: torch.device, n_images: int, seed: int, report_dir: Path | None, steps: int = 20) -> dict[str, Any]:
    test = sets["test"]
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(test), size=min(n_images, len(test)), replace=False).tolist())
    originals = test.images[idx]
    prompts = [test.records[i].prompt() for i in idx]
    source = np.stack([test.labels("male")[idx], test.labels("old")[idx]], 1)
    train = sets["train"]
    out: dict[str, Any] = {"images": len(idx), "steps": steps, "guidance_scale": 7.5, "sampler": "DPM-Solver++(2M)",
                           "train_ratio": {"male": float(train.labels("male").mean()), "age>=60": float(train.labels("old").mean())}}
    p_orig = predict(judge, attribute_input, originals, device)
    # the autoencoder alone (encode, decode): how much of what the judge sees survives the latent space
    with torch.no_grad():
        recon = np.concatenate([from_sample(vae.decoder(vae.parameters_of(to_sample(originals[s : s + 16]).to(device))[0])) for s in range(0, len(originals), 16)])
    out["judged_ratio_vae_roundtrip"] = _ratios(predict(judge, attribute_input, recon, device))
    for name, masks in (("anofair_masks", anofair_masks(test, idx)), ("full_masks", np.ones_like(originals))):
        t0 = time.time()
        generated = inpaint(vae, text, unet, tokenizer, originals, masks, prompts, device, steps=steps, seed=seed)
        secs = time.time() - t0
        p_gen = predict(judge, attribute_input, generated, device)
        repaint = masks > 0.5
        out[name] = {
            "source_ratio": {"male": float(source[:, 0].mean()), "age>=60": float(source[:, 1].mean())},
            "judged_ratio_originals": _ratios(p_orig),
            "judged_ratio": _ratios(p_gen),
            "mean_probability": {"male": float(p_gen[:, 0].mean()), "age>=60": float(p_gen[:, 1].mean())},
            "same_judged_sex_as_source": float(((p_gen[:, 0] > 0.5) == (source[:, 0] > 0.5)).mean()),
            "same_judged_age_group_as_source": float(((p_gen[:, 1] > 0.5) == (source[:, 1] > 0.5)).mean()),
            "repainted_fraction": float(repaint.mean()),
            "mean_abs_change_in_repainted_pixels": float(np.abs(generated - originals)[repaint].mean()) if repaint.any() else 0.0,
            "seconds_per_image_pytorch": round(secs / max(1, len(idx)), 3),
        }
        if name == "anofair_masks" and report_dir is not None:
            _picture(report_dir / "models-inpainting.png", originals[:6], masks[:6], generated[:6], p_orig[:6], p_gen[:6])
    return out


def _picture(path: Path, originals: np.ndarray, masks: np.ndarray, generated: np.ndarray, p_orig: np.ndarray, p_gen: np.ndarray) -> None:
    from PIL import Image, ImageDraw

    n, s = len(originals), originals.shape[1]
    pad = 18
    canvas = Image.new("L", (3 * s + 4 * 4, n * (s + pad) + 4), 0)
    draw = ImageDraw.Draw(canvas)
    for r in range(n):
        y = r * (s + pad) + pad
        for c, img in enumerate((originals[r], masks[r], generated[r])):
            canvas.paste(Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)), (4 + c * (s + 4), y))
        draw.text((4, y - 14), f"original: p(male) {p_orig[r, 0]:.2f} p(>=60) {p_orig[r, 1]:.2f}", fill=255)
        draw.text((4 + 2 * (s + 4), y - 14), f"inpainted: {p_gen[r, 0]:.2f} / {p_gen[r, 1]:.2f}", fill=255)
        draw.text((4 + (s + 4), y - 14), "mask (white = repaint)", fill=255)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
