"""The noise schedule SD2 uses (scaled_linear betas 0.00085..0.012 over 1000 steps, epsilon prediction), the
inpainting masks of training, and a DPM-Solver++(2M) sampler with classifier-free guidance for evaluation."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

NUM_TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012


def alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, NUM_TRAIN_TIMESTEPS, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


def scheduler_config() -> dict:
    """Fields of diffusers' DPMSolverMultistepScheduler, which are also DDPM/DDIM/PNDM compatible."""
    return {
        "_class_name": "DPMSolverMultistepScheduler",
        "_diffusers_version": "0.21.0",
        "num_train_timesteps": NUM_TRAIN_TIMESTEPS,
        "beta_start": BETA_START,
        "beta_end": BETA_END,
        "beta_schedule": "scaled_linear",
        "trained_betas": None,
        "prediction_type": "epsilon",
        "algorithm_type": "dpmsolver++",
        "solver_order": 2,
        "solver_type": "midpoint",
        "lower_order_final": True,
        "thresholding": False,
        "clip_sample": False,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "linspace",
        "final_sigmas_type": "zero",
        "use_karras_sigmas": False,
    }


MASK_RANDOM, MASK_ANOFAIR, MASK_FULL = 0, 1, 2


def random_masks(n: int, size: int, rng: np.random.Generator, boxes: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Repaint masks (1 = regenerate, diffusers' white) [n, size, size] and their kinds [n]: random rectangles and
    ellipses (45%), the CXR-AnoFAIR mask, everything except the dilated finding boxes (40%), and the whole image
    (15%). The last two depend only on the image, so a trainer can encode their masked images once."""
    masks = np.zeros((n, size, size), dtype=np.float32)
    kinds = np.zeros(n, dtype=np.int64)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        kind = rng.random()
        if kind < 0.45:
            for _ in range(rng.integers(1, 4)):
                w, h = rng.integers(size // 8, size // 2, size=2)
                x0, y0 = rng.integers(0, size - w), rng.integers(0, size - h)
                if rng.random() < 0.5:
                    masks[i, y0 : y0 + h, x0 : x0 + w] = 1
                else:
                    cx, cy = x0 + w / 2, y0 + h / 2
                    masks[i][((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1] = 1
        elif kind < 0.85:
            kinds[i] = MASK_ANOFAIR
            masks[i] = 1
            if boxes is not None:
                masks[i] = anofair_mask(size, boxes[i])
        else:
            kinds[i] = MASK_FULL
            masks[i] = 1
    return masks, kinds


def anofair_mask(size: int, boxes: np.ndarray) -> np.ndarray:
    """CXR-AnoFAIR's mask: repaint (1) everywhere except the finding boxes dilated by size/32."""
    mask = np.ones((size, size), dtype=np.float32)
    margin = size // 32
    for x0, y0, x1, y1 in boxes:
        mask[max(0, int(y0) - margin) : int(math.ceil(y1)) + margin, max(0, int(x0) - margin) : int(math.ceil(x1)) + margin] = 0
    return mask


def latent_mask(mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """As diffusers' inpainting pipeline: nearest interpolation of the pixel mask to the latent grid."""
    return F.interpolate(mask, size=(mask.shape[-2] // factor, mask.shape[-1] // factor))


def min_snr_weight(abar: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    snr = abar / (1 - abar)
    return torch.clamp(snr, max=gamma) / snr


def sampling_timesteps(steps: int) -> list[int]:
    """timestep_spacing 'linspace', as diffusers' DPMSolverMultistepScheduler."""
    return np.linspace(0, NUM_TRAIN_TIMESTEPS - 1, steps + 1).round()[::-1][:-1].astype(int).tolist()


def dpm_solver_2m(
    eps_fn: Callable[[torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    steps: int,
    abar: torch.Tensor,
) -> torch.Tensor:
    """DPM-Solver++(2M), midpoint, lower order final, final sigma zero. eps_fn(x, t) returns predicted noise."""
    ts = sampling_timesteps(steps)
    alpha = lambda t: abar[t].sqrt() if t >= 0 else torch.tensor(1.0)
    sigma = lambda t: (1 - abar[t]).sqrt() if t >= 0 else torch.tensor(0.0)
    lam = lambda t: torch.log(alpha(t)) - torch.log(sigma(t))
    prev_x0 = None
    prev_h = None
    for i, t in enumerate(ts):
        eps = eps_fn(x, t)
        x0 = (x - sigma(t) * eps) / alpha(t)
        t_next = ts[i + 1] if i + 1 < len(ts) else -1
        if t_next < 0:
            x = x0
            break
        h = lam(t_next) - lam(t)
        if prev_x0 is None or i == len(ts) - 2 and len(ts) < 15:
            d = x0
        else:
            r = prev_h / h
            d = x0 + 0.5 * (x0 - prev_x0) / r
        x = (sigma(t_next) / sigma(t)) * x - alpha(t_next) * (torch.exp(-h) - 1.0) * d
        prev_x0, prev_h = x0, h
    return x
