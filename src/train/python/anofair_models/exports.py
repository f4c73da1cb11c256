"""ONNX exports and manifests of each model folder under models/demo/."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .classifier_training import XRV_SIZE
from .classifiers import AttributeClassifier, DiagnosticClassifier, EmbeddingExport, HeadExport, SiameseReid
from .dataset import DETECTOR_CLASSES, FINDING_NAMES, IMAGE_SIZE, NORMALISATION_DOC
from .detector import STRIDES, Detector
from .diffusion import scheduler_config
from .manifest import environment, write_manifest
from .onnx_export import declare_output_shape, describe_io, export, record_check, sine_input, values_input
from .text_encoder import TextEncoder
from .tokenizer import BOS_ID, EOS_ID, MAX_LENGTH, NEGATIVE_PROMPT, PAD_ID, Tokenizer
from .unet import UNet
from .vae import LATENT_CHANNELS, SCALING_FACTOR, AutoencoderKL, VaeDecoderExport, VaeEncoderExport


@dataclass
class Context:
    out: Path
    data: dict[str, Any]
    device: str
    smoke: bool


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _component(folder: Path, file: str, model: torch.nn.Module, inputs: list[dict[str, Any]], output_names: list[str],
               dynamic_axes: dict[str, dict[int, str]], keep_names: bool = False) -> dict[str, Any]:
    examples = tuple(_example(spec) for spec in inputs)
    export(model, folder / file, examples, [s["name"] for s in inputs], output_names, dynamic_axes, keep_names)
    ins, outs = describe_io(folder / file)
    return {"file": file, "inputs": ins, "outputs": outs, "checks": [record_check(model, inputs, output_names)]}


def _example(spec: dict[str, Any]) -> torch.Tensor:
    from .onnx_export import make_input
    return make_input(spec)


def _training(info: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return {**info, "device": ctx.device, **environment()}


def _save_torch(folder: Path, name: str, model: torch.nn.Module, config: dict[str, Any]) -> str:
    """A PyTorch state dict beside the ONNX file, for training that needs gradients (the CXR-Fair loss, PriCheXy
    retraining). Plain tensors and JSON-like config: loadable with torch.load(weights_only=True)."""
    (folder / "pytorch").mkdir(exist_ok=True)
    path = folder / "pytorch" / f"{name}.pt"
    torch.save({"config": config, "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}, path)
    return path.relative_to(folder).as_posix()


def detector(ctx: Context, model: Detector, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    folder = _fresh(ctx.out / "detector")
    comp = _component(folder, "model.onnx", model, [sine_input("images", [1, 3, IMAGE_SIZE, IMAGE_SIZE])], ["output0"],
                      {"images": {0: "batch"}, "output0": {0: "batch"}})
    n = sum((IMAGE_SIZE // s) ** 2 for s in STRIDES)
    declare_output_shape(folder / "model.onnx", "output0", ["batch", 4 + len(DETECTOR_CLASSES), n])
    comp["inputs"], comp["outputs"] = describe_io(folder / "model.onnx")
    write_manifest(folder, {
        "name": "detector",
        "format": "ultralytics-yolov8-onnx",
        "task": "detect",
        "description": "Anchor-free YOLO-style detector of the six phantom findings and burned-in text, in the output format of an ultralytics YOLOv8 ONNX export (no NMS in the graph).",
        "imgsz": [IMAGE_SIZE, IMAGE_SIZE],
        "stride": max(STRIDES),
        "names": {str(i): c for i, c in enumerate(DETECTOR_CLASSES)},
        "classes": DETECTOR_CLASSES,
        "output_layout": f"output0[b, 0:4, k] = cx, cy, w, h in input pixels; output0[b, 4 + c, k] = sigmoid score of class c; k < {n} cells over strides {list(STRIDES)}",
        "normalisation": {**NORMALISATION_DOC, "model_input": "display01 grey copied to 3 channels (RGB), 0..1; other sizes letterboxed to 256x256 with value 114/255 as ultralytics does"},
        "postprocess": {"nms_iou": 0.6, "conf_eval": 0.001, "conf_suggested": 0.25},
        "models": [comp],
        "training": _training(info, ctx),
        "data": ctx.data,
        "metrics": metrics,
    })


def attributes(ctx: Context, model: AttributeClassifier, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    folder = _fresh(ctx.out / "attributes")
    comp = _component(folder, "model.onnx", model, [sine_input("images", [1, 1, IMAGE_SIZE, IMAGE_SIZE])], ["probabilities"],
                      {"images": {0: "batch"}, "probabilities": {0: "batch"}})
    torch_file = _save_torch(folder, "attributes", model, {"class": "AttributeClassifier", "module": "anofair_models.classifiers"})
    write_manifest(folder, {
        "name": "attributes",
        "format": "onnx-classifier",
        "task": "attribute classification (AttrNzr-style AI judge)",
        "description": "Sex and age-group classifier of chest radiographs: probabilities[:,0] = p(male), probabilities[:,1] = p(age >= 60).",
        "classes": ["male", "age>=60"],
        "attributes": {"sex": {"index": 0, "class1": "M", "class0": "F"}, "age_group": {"index": 1, "class1": ">=60", "class0": "<60"}},
        "normalisation": {**NORMALISATION_DOC, "model_input": f"display01 grey, [B,1,{IMAGE_SIZE},{IMAGE_SIZE}], 0..1 (other sizes resized bilinearly)"},
        "pytorch": torch_file,
        "models": [comp],
        "training": _training(info, ctx),
        "data": ctx.data,
        "metrics": metrics,
    })


def diagnostic(ctx: Context, model: DiagnosticClassifier, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    folder = _fresh(ctx.out / "diagnostic")
    comp = _component(folder, "model.onnx", model, [sine_input("images", [1, 1, XRV_SIZE, XRV_SIZE], a=0.0, b=900.0)], ["probabilities"],
                      {"images": {0: "batch"}, "probabilities": {0: "batch"}})
    torch_file = _save_torch(folder, "diagnostic", model, {"class": "DiagnosticClassifier", "module": "anofair_models.classifiers"})
    write_manifest(folder, {
        "name": "diagnostic",
        "format": "torchxrayvision-interface-onnx",
        "task": "multi-label finding classification",
        "description": "Diagnostic classifier with TorchXRayVision's interface: one channel, 224x224, pixel range [-1024, 1024], one sigmoid output per finding (xrv's `pathologies`).",
        "classes": list(FINDING_NAMES),
        "pathologies": list(FINDING_NAMES),
        "normalisation": {**NORMALISATION_DOC, "model_input": f"display01 resized bilinearly to {XRV_SIZE}x{XRV_SIZE}, then v * 2048 - 1024 (xrv.datasets.normalize(img, 1) of a 0..1 image); [B,1,{XRV_SIZE},{XRV_SIZE}]"},
        "pytorch": torch_file,
        "models": [comp],
        "training": _training(info, ctx),
        "data": ctx.data,
        "metrics": metrics,
    })


def reid(ctx: Context, model: SiameseReid, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    folder = _fresh(ctx.out / "reid")
    emb = _component(folder, "embedding.onnx", EmbeddingExport(model), [sine_input("images", [1, 1, IMAGE_SIZE, IMAGE_SIZE])], ["embedding"],
                     {"images": {0: "batch"}, "embedding": {0: "batch"}})
    head = _component(folder, "head.onnx", HeadExport(model), [sine_input("embedding_a", [2, 128], b=0.4), sine_input("embedding_b", [2, 128], b=0.4, phase=1.1)], ["logit"],
                      {"embedding_a": {0: "pairs"}, "embedding_b": {0: "pairs"}, "logit": {0: "pairs"}})
    write_manifest(folder, {
        "name": "reid",
        "format": "prichexy-siamese-onnx",
        "task": "patient re-identification (verification of image pairs)",
        "description": "PriCheXy-Net's Siamese verification design, scaled down: a shared CNN gives a 128-d sigmoid embedding per image (embedding.onnx); |e1 - e2| -> linear -> logit of 'same patient' (head.onnx); p = sigmoid(logit).",
        "classes": ["same patient"],
        "normalisation": {**NORMALISATION_DOC, "model_input": f"display01 grey, [B,1,{IMAGE_SIZE},{IMAGE_SIZE}], 0..1"},
        "models": [emb, head],
        "training": _training(info, ctx),
        "data": ctx.data,
        "metrics": metrics,
    })


def inpaint(ctx: Context, vae: AutoencoderKL, text: TextEncoder, unet: UNet, tokenizer: Tokenizer, info: dict[str, Any], metrics: dict[str, Any]) -> None:
    folder = _fresh(ctx.out / "inpaint")
    latent = IMAGE_SIZE // 8
    dim = text.config["hidden_size"]
    prompt_ids = tokenizer.encode("A chest X-ray showing Nodule, Effusion.")
    comps = [
        _component(folder, "text_encoder/model.onnx", text, [values_input("input_ids", "int64", [1, MAX_LENGTH], prompt_ids)],
                   ["last_hidden_state", "pooler_output"], {"input_ids": {0: "batch_size", 1: "sequence_length"},
                   "last_hidden_state": {0: "batch_size", 1: "sequence_length"}, "pooler_output": {0: "batch_size"}}, keep_names=True),
        _component(folder, "unet/model.onnx", unet,
                   [sine_input("sample", [1, 9, latent, latent], a=0.0, b=1.0), values_input("timestep", "float32", [1], [500.0]),
                    sine_input("encoder_hidden_states", [1, MAX_LENGTH, dim], a=0.0, b=1.0, freq=0.031)],
                   ["out_sample"], {"sample": {0: "batch_size", 2: "height", 3: "width"}, "timestep": {0: "steps"},
                   "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"}, "out_sample": {0: "batch_size", 2: "height", 3: "width"}}, keep_names=True),
        _component(folder, "vae_encoder/model.onnx", VaeEncoderExport(vae), [sine_input("sample", [1, 3, IMAGE_SIZE, IMAGE_SIZE], a=0.0, b=0.9)],
                   ["latent_parameters"], {"sample": {0: "batch_size", 2: "height", 3: "width"}, "latent_parameters": {0: "batch_size", 2: "height_latent", 3: "width_latent"}}, keep_names=True),
        _component(folder, "vae_decoder/model.onnx", VaeDecoderExport(vae), [sine_input("latent_sample", [1, LATENT_CHANNELS, latent, latent], a=0.0, b=5.0)],
                   ["sample"], {"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"}, "sample": {0: "batch_size", 2: "height", 3: "width"}}, keep_names=True),
    ]
    tokenizer.save(folder / "tokenizer")
    sched = scheduler_config()
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2) + "\n")
    text_cfg = {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": BOS_ID + 2, "hidden_act": "gelu",
                "hidden_size": dim, "intermediate_size": text.config["intermediate_size"], "num_attention_heads": text.config["num_attention_heads"],
                "num_hidden_layers": text.config["num_hidden_layers"], "max_position_embeddings": MAX_LENGTH, "bos_token_id": BOS_ID,
                "eos_token_id": EOS_ID, "pad_token_id": PAD_ID, "projection_dim": dim}
    (folder / "text_encoder" / "config.json").write_text(json.dumps(text_cfg, indent=2) + "\n")
    unet_cfg = {"_class_name": "UNet2DConditionModel", "in_channels": 9, "out_channels": 4, "sample_size": latent,
                "cross_attention_dim": dim, "block_out_channels": unet.config["block_out_channels"], "attention_head_dim": 4}
    (folder / "unet" / "config.json").write_text(json.dumps(unet_cfg, indent=2) + "\n")
    vae_cfg = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": LATENT_CHANNELS,
               "sample_size": IMAGE_SIZE, "scaling_factor": SCALING_FACTOR, "block_out_channels": [24, 48, 96, 96]}
    (folder / "vae_encoder" / "config.json").write_text(json.dumps(vae_cfg, indent=2) + "\n")
    # the decoder may be larger than the encoder (a refined decoder): its own shape, for torch_weights.load_vae
    (folder / "vae_decoder" / "config.json").write_text(json.dumps({**vae_cfg, "decoder": vae.decoder.config}, indent=2) + "\n")
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "ORTStableDiffusionInpaintPipeline", "_diffusers_version": "0.21.0",
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "DPMSolverMultistepScheduler"], "text_encoder": ["optimum", "ORTModelTextEncoder"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["optimum", "ORTModelUnet"],
        "vae_decoder": ["optimum", "ORTModelVaeDecoder"], "vae_encoder": ["optimum", "ORTModelVaeEncoder"]}, indent=2) + "\n")
    _verify_reload(folder, vae, text, unet)
    examples = ["A chest X-ray showing No Finding.", "A chest X-ray showing Nodule.", "A chest X-ray showing Mass, Effusion, Cardiomegaly.", NEGATIVE_PROMPT, ""]
    write_manifest(folder, {
        "name": "inpaint",
        "format": "stable-diffusion-2-inpainting-onnx",
        "task": "inpainting (CXR-AnoFAIR regeneration of everything outside the kept disease boxes)",
        "description": "A small latent diffusion inpainting model in the ONNX layout of an optimum export of stable-diffusion-2-inpainting: text_encoder, unet (9-channel input), vae_encoder, vae_decoder, CLIP BPE tokenizer, scheduler config.",
        "layout": {"text_encoder": "text_encoder/model.onnx", "unet": "unet/model.onnx", "vae_encoder": "vae_encoder/model.onnx",
                   "vae_decoder": "vae_decoder/model.onnx", "tokenizer": "tokenizer/", "scheduler": "scheduler/scheduler_config.json"},
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "latent": {"channels": LATENT_CHANNELS, "factor": 8, "scaling_factor": SCALING_FACTOR,
                   "latent_parameters": "channels 0-3 mean, 4-7 log-variance (optimum's vae_encoder output); masked-image latents use the mean"},
        "unet_input": "cat([noisy latents (4), mask at latent size (1, nearest, 1 = repaint), masked-image latents (4)], dim=1); timestep float32 [1] or [B]",
        "mask_convention": "diffusers: white (1) = repaint; masked image = image * (mask < 0.5), image in [-1, 1]",
        "prompt": {"template": "A chest X-ray showing {finding}.", "findings_joiner": ", ", "findings_order": list(FINDING_NAMES),
                   "no_finding": "No Finding", "negative_prompt": NEGATIVE_PROMPT, "guidance_scale": 7.5, "num_inference_steps": 20},
        "tokenizer_examples": {p: tokenizer.encode(p) for p in examples},
        "classes": list(FINDING_NAMES),
        "normalisation": {**NORMALISATION_DOC, "model_input": "vae_encoder sample = display01 * 2 - 1 copied to 3 channels; vae_decoder output mean over channels, (v + 1) / 2, clipped to 0..1"},
        "pytorch": {"weights": "the ONNX initializers, named as the PyTorch state dict (no constant folding)",
                    "loader": "anofair_models.torch_weights.load_inpaint(folder) in src/train/python"},
        "models": comps,
        "training": {k: _training(v, ctx) for k, v in info.items()},
        "data": ctx.data,
        "metrics": metrics,
    })


def _verify_reload(folder: Path, vae: AutoencoderKL, text: TextEncoder, unet: UNet) -> None:
    """The PyTorch modules rebuilt from the ONNX files must equal the trained ones, weight for weight."""
    from .torch_weights import load_inpaint

    vae2, text2, unet2, _ = load_inpaint(folder)
    for a, b in ((vae, vae2), (text, text2), (unet, unet2)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            if x.dtype.is_floating_point and not torch.equal(x.cpu(), y):
                raise RuntimeError(f"reloading {name} from ONNX does not reproduce the trained weight")
