"""Rebuild the inpainting model's PyTorch modules from the shipped ONNX files, whose initializers keep the
state-dict names (exported without constant folding), so the folder ships each weight once. The LoRA trainer
uses this to get differentiable modules identical to what onnxruntime runs."""
from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from .text_encoder import TextEncoder
from .tokenizer import Tokenizer
from .unet import UNet
from .vae import AutoencoderKL, decoder_from_config


def onnx_initializers(path: Path) -> dict[str, torch.Tensor]:
    return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(str(path)).graph.initializer}


def load_named(module: torch.nn.Module, path: Path, strip_prefix: str = "", only_prefix: str = "") -> None:
    """Copy every floating-point parameter and buffer of `module` whose name (after only_prefix) is an initializer
    of the ONNX file (after strip_prefix). Raises when one is missing: a silent partial load would be a wrong model."""
    inits = {k[len(strip_prefix):]: v for k, v in onnx_initializers(path).items() if k.startswith(strip_prefix)}
    state = module.state_dict()
    missing = []
    with torch.no_grad():
        for name, tensor in state.items():
            if not name.startswith(only_prefix) or not tensor.dtype.is_floating_point:
                continue
            key = name[len(only_prefix):]
            if key not in inits:
                missing.append(name)
                continue
            tensor.copy_(inits[key].reshape(tensor.shape))
    if missing:
        raise ValueError(f"{path}: no initializer for {len(missing)} weights, e.g. {missing[:3]}")


def load_inpaint(folder: Path) -> tuple[AutoencoderKL, TextEncoder, UNet, Tokenizer]:
    tokenizer = Tokenizer.load(folder / "tokenizer")
    tcfg = json.loads((folder / "text_encoder" / "config.json").read_text())
    text = TextEncoder(tokenizer.dense_size, tcfg["hidden_size"], tcfg["num_hidden_layers"], tcfg["num_attention_heads"], tcfg["intermediate_size"])
    load_named(text, folder / "text_encoder" / "model.onnx")
    ucfg = json.loads((folder / "unet" / "config.json").read_text())
    unet = UNet(ucfg["cross_attention_dim"], tuple(ucfg["block_out_channels"]))
    load_named(unet, folder / "unet" / "model.onnx")
    return load_vae(folder), text.eval(), unet.eval(), tokenizer


def load_vae(folder: Path) -> AutoencoderKL:
    """The autoencoder of an inpainting folder, its decoder built as vae_decoder/config.json describes it."""
    config_file = folder / "vae_decoder" / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else None
    vae = AutoencoderKL(decoder_from_config(config))
    load_named(vae, folder / "vae_encoder" / "model.onnx", strip_prefix="vae.encoder.", only_prefix="encoder.")
    load_named(vae, folder / "vae_decoder" / "model.onnx", strip_prefix="vae.decoder.", only_prefix="decoder.")
    return vae.eval()
