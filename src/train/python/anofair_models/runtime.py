"""Device, threads and seeding, so the same scripts run on Debian's CPU torch 1.13 and a CUDA machine's torch 2.x."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(requested: str | None = None) -> torch.device:
    name = requested or os.environ.get("ANOFAIR_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cpu":
        # The build machine is shared: never take more than two cores.
        torch.set_num_threads(min(2, max(1, int(os.environ.get("ANOFAIR_TORCH_THREADS", "2")))))
    return device


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def torch_version_tuple() -> tuple[int, int]:
    major, minor = torch.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)
