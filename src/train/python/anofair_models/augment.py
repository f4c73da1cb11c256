"""Light augmentation for training: a small shift (zero fill) and an exposure (gamma) change, with boxes following."""
from __future__ import annotations

import numpy as np


def shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    h, w = img.shape
    out = np.zeros_like(img)
    out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = img[max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)]
    return out


def jitter(img: np.ndarray, rng: np.random.Generator, max_shift: int = 12, gamma_sigma: float = 0.15, noise: float = 0.01) -> tuple[np.ndarray, int, int]:
    dx, dy = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    out = np.clip(shift(img, dx, dy), 0, 1) ** float(np.exp(rng.normal(0, gamma_sigma)))
    if noise:
        out = out + rng.normal(0, noise, size=out.shape).astype(np.float32)
    return np.clip(out, 0, 1).astype(np.float32), dx, dy


def jitter_batch(images: np.ndarray, rng: np.random.Generator, **kw) -> np.ndarray:
    return np.stack([jitter(im, rng, **kw)[0] for im in images])
