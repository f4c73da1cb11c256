"""The PyTorch inpainting pipeline (inpaint.inpaint) run on a shipped ONNX folder's weights, for cross-checks of
other implementations (the gateway's onnxruntime-node pipeline) and as the side-by-side anchor of its benchmark.

python3 -m anofair_models.inpaint_reference --model DIR --request FILE.json: the request names raw little-endian
float32 files (image and mask [N,256,256], optional initial latents [N,4,32,32]) and the prompts; the images are
written to the request's "out" file in the same format, and one JSON line with the timing goes to stdout."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .dataset import IMAGE_SIZE
from .inpaint import inpaint
from .torch_weights import load_inpaint


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="anofair_models.inpaint_reference")
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--request", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    req = json.loads(args.request.read_text())
    n = len(req["prompts"])
    shape = (n, IMAGE_SIZE, IMAGE_SIZE)
    image = np.fromfile(req["image"], dtype="<f4").reshape(shape)
    mask = np.fromfile(req["mask"], dtype="<f4").reshape(shape)
    latents = np.fromfile(req["latents"], dtype="<f4").reshape(n, 4, IMAGE_SIZE // 8, IMAGE_SIZE // 8) if req.get("latents") else None
    t0 = time.time()
    vae, text, unet, tokenizer = load_inpaint(args.model)
    t1 = time.time()
    out = inpaint(vae, text, unet, tokenizer, image, mask, req["prompts"], torch.device("cpu"), steps=int(req.get("steps", 20)),
                  guidance=float(req.get("guidance", 7.5)), seed=int(req.get("seed", 0)), initial_latents=latents)
    t2 = time.time()
    out.astype("<f4").tofile(req["out"])
    print(json.dumps({"images": n, "load_seconds": round(t1 - t0, 3), "seconds": round(t2 - t1, 3), "threads": args.threads}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
