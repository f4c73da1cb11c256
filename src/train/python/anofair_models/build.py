"""Builds the demo model set from a phantom folder: train, evaluate on the held-out split, export ONNX, write
manifests. Run as `python3 -m anofair_models.build --data DIR --out DIR [--smoke]` (src/train/models-build.ts does).

Progress goes to stdout as `progress <stage> <step> <total> <loss>` lines, everything else as `info ...` lines."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import exports
from .classifier_training import (evaluate_attributes, evaluate_diagnostic, evaluate_reid, train_attributes,
                                  train_diagnostic, train_reid)
from .classifiers import AttributeClassifier
from .dataset import load_all
from .detector import evaluate as evaluate_detector
from .detector import train as train_detector
from .inpaint import refine_decoder, train_diffusion, train_vae, vae_psnr
from .inpaint_eval import evaluate_inpainting
from .manifest import write_json
from .runtime import pick_device, seed_everything
from .tokenizer import Tokenizer
from .torch_weights import load_inpaint
from .vae import AutoencoderKL, decoder_from_config

STAGES = ["detector", "attributes", "diagnostic", "reid", "vae", "diffusion", "decoder"]  # seeds derive from this order

# Steps and batch sizes: the full build takes under two hours on two idle CPU cores, most of it the diffusion stage
# (see docs/MODELS.md for the measured times).
FULL = {
    "detector": {"steps": 900, "batch": 16},
    "attributes": {"steps": 400, "batch": 32},
    "diagnostic": {"steps": 1200, "batch": 32},
    "reid": {"steps": 1200, "batch": 32},
    "vae": {"steps": 300, "batch": 16},
    "diffusion": {"steps": 4000, "batch": 16},
    "decoder": {"steps": 2000, "batch": 12},
    "inpaint_eval_images": 48,
    "inpaint_eval_steps": 20,
}
SMOKE = {
    "detector": {"steps": 3, "batch": 4},
    "attributes": {"steps": 3, "batch": 4},
    "diagnostic": {"steps": 3, "batch": 4},
    "reid": {"steps": 3, "batch": 4},
    "vae": {"steps": 3, "batch": 4},
    "diffusion": {"steps": 3, "batch": 4},
    "decoder": {"steps": 3, "batch": 2},
    "inpaint_eval_images": 2,
    "inpaint_eval_steps": 2,
}


class Reporter:
    def __init__(self) -> None:
        self.last = 0.0

    def info(self, message: str) -> None:
        print(f"info {message}", flush=True)

    def progress(self, stage: str):
        def report(step: int, total: int, loss: float) -> None:
            now = time.time()
            if step == total or step == 1 or now - self.last > 2.0:
                self.last = now
                print(f"progress {stage} {step} {total} {loss:.5f}", flush=True)

        return report


def encoder_digest(vae: AutoencoderKL) -> str:
    """Identifies the encoder whose latents a refined decoder was trained on."""
    h = hashlib.sha256()
    for name, t in vae.encoder.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def data_description(data_dir: Path, sets: dict[str, Any], smoke: bool) -> dict[str, Any]:
    desc: dict[str, Any] = {"generator": "anofair phantoms", "images": {k: len(v) for k, v in sets.items()},
                            "patients": {k: len({r.patient_id for r in v.records}) for k, v in sets.items()}}
    meta_path = data_dir / "dataset.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        for key in ("seed", "args", "generator", "generator_version", "labels_version"):
            if key in meta:
                desc[f"dataset_{key}"] = meta[key]
    train = sets["train"]
    desc["train_ratios"] = {"male": float(train.labels("male").mean()) if len(train) else None,
                            "age>=60": float(train.labels("old").mean()) if len(train) else None}
    if smoke:
        desc["smoke"] = True
    return desc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anofair_models.build")
    ap.add_argument("--data", required=True, type=Path, help="phantom folder with labels.jsonl")
    ap.add_argument("--out", required=True, type=Path, help="output folder, e.g. models/demo")
    ap.add_argument("--smoke", action="store_true", help="a few steps per model, to test the pipeline")
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--only", default="", help="comma-separated stages to build (default: all)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--cache", type=Path, default=None, help="8-bit image cache written by dataset.write_cache (optional)")
    ap.add_argument("--summary", default="build-summary.json", help="file name of this run's summary in --out")
    ap.add_argument("--judge-after", type=float, default=None,
                    help="unix time: judge the inpainting with the attribute classifier written after it (by a parallel process of this build)")
    ap.add_argument("--judge-wait", type=float, default=3 * 3600, help="seconds to wait for that classifier")
    ap.add_argument("--report-dir", type=Path, default=None, help="where to write pictures for docs (full builds)")
    args = ap.parse_args(argv)

    rep = Reporter()
    device = pick_device(args.device)
    plan = SMOKE if args.smoke else FULL
    stages = [s for s in args.only.split(",") if s] or STAGES
    for s in stages:
        if s not in STAGES:
            print(f"error unknown stage {s!r}; stages are {', '.join(STAGES)}", file=sys.stderr)
            return 2
    rep.info(f"device {device}, torch {torch.__version__}, stages {','.join(stages)}{' (smoke)' if args.smoke else ''}")
    t0 = time.time()
    sets = load_all(args.data, limit=8 if args.smoke else None, cache=args.cache)
    rep.info(f"loaded {', '.join(f'{k} {len(v)}' for k, v in sets.items())} images in {time.time() - t0:.1f}s")
    for split in ("train", "test"):
        if len(sets[split]) == 0:
            print(f"error the phantom folder has no {split} images", file=sys.stderr)
            return 2
    data = data_description(args.data, sets, args.smoke)
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"seed": args.seed, "device": str(device), "smoke": args.smoke, "stages": {}}
    ctx = exports.Context(out=args.out, data=data, device=str(device), smoke=args.smoke)
    test, val, train = sets["test"], sets["val"], sets["train"]
    models: dict[str, Any] = {}

    def stage_seed(name: str) -> int:
        return args.seed + STAGES.index(name) * 1000

    def train_and_score(name: str, train_fn: Any, evaluate: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """Train a stage from its own seed and measure it on the held-out splits."""
        seed_everything(stage_seed(name))
        model, info = train_fn(train, device, seed=stage_seed(name), progress=rep.progress(name), **plan[name])
        metrics = {"test": evaluate(model, test), "val": evaluate(model, val) if len(val) else None}
        return model, info, metrics

    def ship(name: str, export: Any, model: Any, info: dict[str, Any], metrics: dict[str, Any]) -> None:
        export(ctx, model.cpu(), info | {"seed": stage_seed(name)}, metrics)
        summary["stages"][name] = {"training": info, "metrics": metrics}

    def train_attribute_judge() -> Any:
        model, info, metrics = train_and_score("attributes", train_attributes, lambda m, split: evaluate_attributes(m, split, device))
        rep.info(f"attributes AUC test sex {metrics['test']['sex']['auc']:.3f} age {metrics['test']['age_group']['auc']:.3f}")
        if "attributes" in stages:
            ship("attributes", exports.attributes, model, info, metrics)
        return model

    def attribute_judge() -> Any:
        """The attribute classifier that judges the inpainting model: this run's, when another process of the same
        build trains it (--judge-after), else the one in --out, else one trained here."""
        if "attributes" in models:
            return models["attributes"]
        judge_file = args.out / "attributes" / "pytorch" / "attributes.pt"
        if args.judge_after is not None:
            # its manifest is written last: once that is newer than the build's start, the classifier is complete
            manifest_file = args.out / "attributes" / "manifest.json"
            written = lambda: manifest_file.exists() and manifest_file.stat().st_mtime >= args.judge_after
            deadline = time.time() + args.judge_wait
            while not written() and time.time() < deadline:
                time.sleep(10)
            if not written():
                rep.info(f"no attribute classifier from this build after {args.judge_wait}s: training one to judge the inpainting")
                return train_attribute_judge()
        elif not judge_file.exists():
            return train_attribute_judge()
        judge = AttributeClassifier()
        judge.load_state_dict(torch.load(str(judge_file), map_location="cpu")["state_dict"])
        rep.info(f"attribute judge loaded from {judge_file}")
        return judge.eval()

    if "attributes" in stages:
        models["attributes"] = train_attribute_judge()
    if "detector" in stages:
        model, info, metrics = train_and_score("detector", train_detector, lambda m, split: evaluate_detector(m, split, device))
        rep.info(f"detector mAP@0.5 test {metrics['test']['mAP50']:.3f}")
        ship("detector", exports.detector, model, info, metrics)
    if "diagnostic" in stages:
        model, info, metrics = train_and_score("diagnostic", train_diagnostic, lambda m, split: evaluate_diagnostic(m, split, device))
        rep.info(f"diagnostic AUC test min {metrics['test']['min_auc']:.3f} mean {metrics['test']['mean_auc']:.3f}")
        ship("diagnostic", exports.diagnostic, model, info, metrics)
    if "reid" in stages:
        model, info, metrics = train_and_score("reid", train_reid, lambda m, split: evaluate_reid(m, split, device, args.seed))
        rep.info(f"re-identification AUC test {metrics['test']['auc']:.3f}")
        ship("reid", exports.reid, model, info, metrics)
    if "vae" in stages or "diffusion" in stages:
        seed_everything(stage_seed("vae"))
        vae, vae_info = train_vae(train, device, seed=stage_seed("vae"), progress=rep.progress("vae"), **plan["vae"])
        vae_info["seed"] = stage_seed("vae")
        vae_info["test_psnr_db"] = vae_psnr(vae, test, device)
        rep.info(f"vae reconstruction PSNR test {vae_info['test_psnr_db']:.1f} dB")
        summary["stages"]["vae"] = {"training": vae_info}
    inpainting: dict[str, Any] | None = None
    if "diffusion" in stages:
        seed_everything(stage_seed("diffusion"))
        tokenizer = Tokenizer.build()
        text, unet, info = train_diffusion(train, vae, tokenizer, device, seed=stage_seed("diffusion"), progress=rep.progress("diffusion"), **plan["diffusion"])
        info["seed"] = stage_seed("diffusion")
        inpainting = {"vae": vae, "text": text, "unet": unet, "tokenizer": tokenizer, "training": {"vae": vae_info, "diffusion": info}}
    if "decoder" in stages:
        if inpainting is None:
            # refine the shipped model's decoder: its encoder, and so the UNet's latent space, stay as they are
            folder = args.out / "inpaint"
            shipped = json.loads((folder / "manifest.json").read_text())
            vae, text, unet, tokenizer = load_inpaint(folder)
            inpainting = {"vae": vae, "text": text, "unet": unet, "tokenizer": tokenizer,
                          "training": {k: v for k, v in shipped.get("training", {}).items() if k != "decoder"}}
        seed_everything(stage_seed("decoder"))
        before = vae_psnr(inpainting["vae"], test, device)
        # the trained decoder is kept until the folder is exported, so a failure after training costs no retraining
        checkpoint = args.out / "decoder-checkpoint.pt"
        key = {"plan": plan["decoder"], "seed": stage_seed("decoder"), "encoder": encoder_digest(inpainting["vae"])}
        saved = torch.load(str(checkpoint), map_location="cpu") if checkpoint.exists() else None
        if saved is not None and saved["key"] == key:
            refined = inpainting["vae"].with_decoder(decoder_from_config({"decoder": saved["info"]["decoder"]}))
            refined.decoder.load_state_dict(saved["decoder"])
            refined, info = refined.eval(), saved["info"]
            rep.info(f"refined decoder taken from {checkpoint} (same plan, seed and encoder)")
        else:
            refined, info = refine_decoder(train, inpainting["vae"], device, seed=stage_seed("decoder"), progress=rep.progress("decoder"), **plan["decoder"])
            torch.save({"key": key, "info": info, "decoder": refined.decoder.state_dict()}, str(checkpoint))
        info.update(seed=stage_seed("decoder"), test_psnr_db_before=before, test_psnr_db=vae_psnr(refined, test, device))
        rep.info(f"refined decoder: reconstruction PSNR test {info['test_psnr_db_before']:.1f} -> {info['test_psnr_db']:.1f} dB")
        inpainting["vae"] = refined
        inpainting["training"]["decoder"] = info
        summary["stages"]["decoder"] = {"training": info}
    if inpainting is not None:
        vae, text, unet, tokenizer = inpainting["vae"], inpainting["text"], inpainting["unet"], inpainting["tokenizer"]
        metrics = evaluate_inpainting(vae, text, unet, tokenizer, attribute_judge().to(device), sets, device, plan["inpaint_eval_images"], args.seed, args.report_dir, plan["inpaint_eval_steps"])
        rep.info("inpainting judged male ratio {:.2f} (data {:.2f}), age>=60 ratio {:.2f} (data {:.2f})".format(
            metrics["anofair_masks"]["judged_ratio"]["male"], metrics["anofair_masks"]["source_ratio"]["male"],
            metrics["anofair_masks"]["judged_ratio"]["age>=60"], metrics["anofair_masks"]["source_ratio"]["age>=60"]))
        exports.inpaint(ctx, vae.cpu(), text, unet, tokenizer, inpainting["training"], metrics)
        (args.out / "decoder-checkpoint.pt").unlink(missing_ok=True)
        if "diffusion" in stages:
            summary["stages"]["diffusion"] = {"training": inpainting["training"]["diffusion"], "metrics": metrics}
        else:
            summary["stages"]["decoder"]["metrics"] = metrics
    summary["seconds"] = round(time.time() - t0, 1)
    summary["data"] = data
    write_json(args.out / args.summary, summary)
    rep.info(f"done in {summary['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
