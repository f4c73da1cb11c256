"""Training of the inpainting model (VAE, then text encoder + UNet jointly) and its guided sampling."""
from __future__ import annotations

import copy
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dataset import IMAGE_SIZE, PhantomSet
from .diffusion import MASK_ANOFAIR, MASK_RANDOM, alphas_cumprod, anofair_mask, dpm_solver_2m, latent_mask, min_snr_weight, random_masks
from .layers import count_parameters
from .text_encoder import TextEncoder
from .tokenizer import NEGATIVE_PROMPT, Tokenizer
from .unet import UNet
from .vae import SCALING_FACTOR, AutoencoderKL, Decoder

Progress = Callable[[int, int, float], None]


def to_sample(images01: np.ndarray | torch.Tensor) -> torch.Tensor:
    """display01 grey [B,S,S] -> SD image sample [B,3,S,S] in [-1,1]."""
    t = torch.as_tensor(images01)
    return (t * 2 - 1)[:, None].expand(-1, 3, -1, -1).contiguous()


def from_sample(sample: torch.Tensor) -> np.ndarray:
    return ((sample.mean(dim=1).clamp(-1, 1) + 1) / 2).cpu().numpy().astype(np.float32)


def _image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def _edge_l1(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The autoencoders' reconstruction loss: L1 on the pixels and, at half weight, on their gradients."""
    gy, gx = _image_gradients(rec)
    ty, tx = _image_gradients(target)
    return (rec - target).abs().mean() + 0.5 * ((gy - ty).abs().mean() + (gx - tx).abs().mean())


def train_vae(data: PhantomSet, device: torch.device, steps: int, batch: int, seed: int, crop: int = 128, lr: float = 2e-3, progress: Progress | None = None) -> tuple[AutoencoderKL, dict[str, Any]]:
    """L1 + edge L1 + a light KL, on random crops (the network is fully convolutional), then latent rescaling."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vae = AutoencoderKL().to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.05)
    t0 = time.time()
    avg = 0.0
    for step in range(steps):
        idx = rng.integers(0, len(data), batch)
        offs = rng.integers(0, (IMAGE_SIZE - crop) // 8 + 1, size=(batch, 2)) * 8
        crops = np.stack([data.images[i, y : y + crop, x : x + crop] for i, (y, x) in zip(idx, offs)])
        x = to_sample(crops).to(device)
        mean, logvar = vae.parameters_of(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        rec = vae.decoder(z)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = _edge_l1(rec, x) + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        avg = 0.95 * avg + 0.05 * float(loss) if step else float(loss)
        if progress:
            progress(step + 1, steps, avg)
    vae.eval()
    with torch.no_grad():
        sub = data.images[: min(len(data), 128)]
        means = torch.cat([vae.parameters_of(to_sample(sub[i : i + 16]).to(device))[0].cpu() for i in range(0, len(sub), 16)])
    k = vae.rescale_latents(float(means.std()))
    info = {"steps": steps, "batch": batch, "crop": crop, "lr": lr, "parameters": count_parameters(vae), "latent_rescale": k, "seconds": round(time.time() - t0, 1), "final_loss": avg}
    return vae, info


def vae_psnr(vae: AutoencoderKL, data: PhantomSet, device: torch.device, limit: int = 64) -> float:
    vae.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, min(limit, len(data)), 16):
            x = to_sample(data.images[i : min(i + 16, limit)]).to(device)
            rec = vae.decoder(vae.parameters_of(x)[0])
            mse = ((from_sample(rec) - data.images[i : min(i + 16, limit)]) ** 2).mean(axis=(1, 2))
            errs += (10 * np.log10(1.0 / np.maximum(mse, 1e-10))).tolist()
    return float(np.mean(errs)) if errs else float("nan")


class PatchCritic(nn.Module):
    """A small PatchGAN critic on grey images: one score per overlapping patch of about 40 px."""

    def __init__(self, w: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.GroupNorm(8, 2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.GroupNorm(8, 4 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.mean(dim=1, keepdim=True))


def _pyramid_l1(a: torch.Tensor, b: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """L1 between the band-pass levels of two images (each level minus its blurred, halved copy)."""
    total = a.new_zeros(())
    for _ in range(levels):
        da, db = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + ((a - F.interpolate(da, scale_factor=2.0, mode="bilinear", align_corners=False))
                         - (b - F.interpolate(db, scale_factor=2.0, mode="bilinear", align_corners=False))).abs().mean()
        a, b = da, db
    return total


def refine_decoder(
    data: PhantomSet, vae: AutoencoderKL, device: torch.device, steps: int, batch: int, seed: int,
    widths: tuple[int, int, int] = (32, 64, 128), blocks: tuple[int, int, int] = (1, 2, 3), hidden: int = 32,
    crop: int = 128, lr: float = 1e-3, adversarial_weight: float = 0.05, adversarial_from: float = 0.3,
    progress: Progress | None = None,
) -> tuple[AutoencoderKL, dict[str, Any]]:
    """A larger decoder trained on the frozen encoder's latents, so that the latent space the UNet was trained in
    stays the same: L1, edge and band-pass L1 for structure (ribs, vessels, borders), and after a warm-up a light
    patch-adversarial term for the fine texture that an L1 decoder averages into blur."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vae = vae.to(device).eval()
    for p in vae.encoder.parameters():
        p.requires_grad_(False)
    # the encoder is frozen: its posterior of every training image is computed once
    with torch.no_grad():
        post = [vae.parameters_of(to_sample(data.images[i : i + 32]).to(device)) for i in range(0, len(data), 32)]
    means = torch.cat([m for m, _ in post])
    stds = torch.cat([torch.exp(0.5 * lv) for _, lv in post])
    decoder = Decoder(widths, blocks, hidden).to(device)
    critic = PatchCritic().to(device)
    opt = torch.optim.AdamW(decoder.parameters(), lr=lr, weight_decay=0.0)
    opt_c = torch.optim.AdamW(critic.parameters(), lr=lr * 0.5, betas=(0.5, 0.9), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.05)
    start_adv = int(steps * adversarial_from)
    lc = crop // 8
    t0 = time.time()
    avg = 0.0
    for step in range(steps):
        idx = rng.integers(0, len(data), batch)
        offs = rng.integers(0, (IMAGE_SIZE - crop) // 8 + 1, size=(batch, 2))
        z = torch.stack([means[i, :, y : y + lc, x : x + lc] + stds[i, :, y : y + lc, x : x + lc] * torch.randn(4, lc, lc, device=device) for i, (y, x) in zip(idx, offs)])
        target = to_sample(np.stack([data.images[i, y * 8 : y * 8 + crop, x * 8 : x * 8 + crop] for i, (y, x) in zip(idx, offs)])).to(device)
        rec = decoder(z)
        loss = _edge_l1(rec, target) + _pyramid_l1(rec, target)
        adversarial = step >= start_adv and adversarial_weight > 0
        if adversarial:
            loss = loss - adversarial_weight * critic(rec).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
        opt.step()
        sched.step()
        if adversarial:  # hinge loss of the critic on real crops against this step's reconstructions
            c_loss = F.relu(1 - critic(target)).mean() + F.relu(1 + critic(rec.detach())).mean()
            opt_c.zero_grad(set_to_none=True)
            c_loss.backward()
            opt_c.step()
        avg = 0.95 * avg + 0.05 * float(loss) if step else float(loss)
        if progress:
            progress(step + 1, steps, avg)
    refined = vae.with_decoder(decoder.eval())
    for p in refined.parameters():
        p.requires_grad_(True)
    info = {
        "steps": steps, "batch": batch, "crop": crop, "lr": lr, "decoder": decoder.config,
        "parameters": count_parameters(decoder), "loss": "L1 + edge L1 + band-pass L1, patch hinge adversarial from step %d (weight %g)" % (start_adv, adversarial_weight),
        "encoder": "frozen (the UNet's latent space is unchanged)", "seconds": round(time.time() - t0, 1), "final_loss": avg,
    }
    return refined.eval(), info


def encode_latents(vae: AutoencoderKL, samples: torch.Tensor, batch: int = 32) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([vae.parameters_of(samples[i : i + batch])[0] for i in range(0, len(samples), batch)]) * SCALING_FACTOR


def masked_latents(vae: AutoencoderKL, images01: np.ndarray, masks: np.ndarray, device: torch.device) -> torch.Tensor:
    """The pipeline's masked-image latents: the image with its repaint area (mask 1) blacked out, encoded."""
    keep = torch.from_numpy(masks[:, None] < 0.5).to(device)
    return encode_latents(vae, to_sample(images01).to(device) * keep)


class Ema:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for s, p in zip(self.shadow.parameters(), model.parameters()):
                s.mul_(d).add_(p.detach(), alpha=1 - d)


def finding_boxes(data: PhantomSet) -> list[np.ndarray]:
    return [data.boxes(i, include_text=False)[0] for i in range(len(data))]


def train_diffusion(
    data: PhantomSet,
    vae: AutoencoderKL,
    tokenizer: Tokenizer,
    device: torch.device,
    steps: int,
    batch: int,
    seed: int,
    lr: float = 1e-3,
    uncond_prob: float = 0.1,
    ema_decay: float = 0.998,
    progress: Progress | None = None,
) -> tuple[TextEncoder, UNet, dict[str, Any]]:
    """SD inpainting fine-tuning objective, from scratch: epsilon MSE (min-SNR-5 weighted) on the 9-channel input."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Train on images without burned-in text: the anonymizer regenerates text areas, it must not learn to draw text.
    keep = [i for i, r in enumerate(data.records) if not r.burned_in]
    if len(keep) < len(data) // 3:
        keep = list(range(len(data)))
    images = data.images[keep]
    boxes = [data.boxes(i, include_text=False)[0] for i in keep]
    ids = torch.tensor([tokenizer.encode(data.records[i].prompt()) for i in keep])
    empty = torch.tensor(tokenizer.encode(""))
    vae = vae.to(device).eval()
    latents = encode_latents(vae, to_sample(images).to(device))
    # The AnoFAIR and whole-image masks depend only on the image: encode their masked images once, not every step.
    anofair_latents = torch.cat([masked_latents(vae, images[s : s + 64], np.stack([anofair_mask(IMAGE_SIZE, b) for b in boxes[s : s + 64]]), device)
                                 for s in range(0, len(images), 64)])
    full_latent = encode_latents(vae, torch.zeros((1, 3, IMAGE_SIZE, IMAGE_SIZE), device=device))
    text = TextEncoder(tokenizer.dense_size).to(device)
    unet = UNet(text.config["hidden_size"]).to(device)
    params = list(text.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.05)
    ema_text, ema_unet = Ema(text, ema_decay), Ema(unet, ema_decay)
    abar = alphas_cumprod().to(device)
    t0 = time.time()
    avg = 0.0
    for step in range(steps):
        idx = rng.integers(0, len(images), batch)
        mask_np, kinds = random_masks(batch, IMAGE_SIZE, rng, [boxes[i] for i in idx])
        masks = torch.from_numpy(mask_np)[:, None].to(device)
        tidx = torch.from_numpy(idx).to(device)
        masked = torch.where(torch.from_numpy(kinds == MASK_ANOFAIR)[:, None, None, None].to(device), anofair_latents[tidx], full_latent.expand(batch, -1, -1, -1)).clone()
        rand = np.flatnonzero(kinds == MASK_RANDOM)
        if len(rand):
            masked[torch.from_numpy(rand).to(device)] = masked_latents(vae, images[idx[rand]], mask_np[rand], device)
        x0 = latents[tidx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, len(abar), (batch,), device=device)
        a = abar[t][:, None, None, None]
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        batch_ids = ids[idx].clone()
        drop = torch.from_numpy(rng.random(batch) < uncond_prob)
        batch_ids[drop] = empty
        ctx, _ = text(batch_ids.to(device))
        pred = unet(torch.cat([noisy, latent_mask(masks), masked], 1), t.float(), ctx)
        w = min_snr_weight(abar[t])
        loss = (w * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema_text.update(text, step)
        ema_unet.update(unet, step)
        avg = 0.98 * avg + 0.02 * float(loss) if step else float(loss)
        if progress:
            progress(step + 1, steps, avg)
    info = {
        "steps": steps, "batch": batch, "lr": lr, "uncond_prob": uncond_prob, "ema_decay": ema_decay, "loss": "epsilon MSE, min-SNR-5 weights",
        "images": len(images), "unet_parameters": count_parameters(unet), "text_encoder_parameters": count_parameters(text),
        "seconds": round(time.time() - t0, 1), "final_loss": avg,
    }
    return ema_text.shadow.cpu(), ema_unet.shadow.cpu(), info


def anofair_masks(data: PhantomSet, indices: list[int]) -> np.ndarray:
    """CXR-AnoFAIR's masks for these images: repaint everything except the dilated finding boxes."""
    if not indices:
        return np.ones((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    return np.stack([anofair_mask(IMAGE_SIZE, data.boxes(i, include_text=False)[0]) for i in indices])


def inpaint(
    vae: AutoencoderKL, text: TextEncoder, unet: UNet, tokenizer: Tokenizer, images01: np.ndarray, masks: np.ndarray,
    prompts: list[str], device: torch.device, steps: int = 20, guidance: float = 7.5, seed: int = 0,
    initial_latents: np.ndarray | None = None,
) -> np.ndarray:
    """The SD2 inpainting pipeline in PyTorch (what the ONNX runtime does), then the kept pixels composited back."""
    vae, text, unet = vae.to(device).eval(), text.to(device).eval(), unet.to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for s in range(0, len(images01), 16):
            img = images01[s : s + 16]
            m = torch.from_numpy(masks[s : s + 16])[:, None].to(device)
            sample = to_sample(img).to(device)
            masked = encode_latents(vae, sample * (m < 0.5))
            lm = latent_mask(m)
            cond, _ = text(torch.tensor([tokenizer.encode(p) for p in prompts[s : s + 16]], device=device))
            neg, _ = text(torch.tensor([tokenizer.encode(NEGATIVE_PROMPT)] * len(img), device=device))
            x = torch.randn((len(img), 4, IMAGE_SIZE // 8, IMAGE_SIZE // 8), generator=gen).to(device)
            if initial_latents is not None:  # given starting noise, to compare with another implementation
                x = torch.from_numpy(initial_latents[s : s + 16]).to(device)
            abar = alphas_cumprod().to(device)

            def eps_fn(xt: torch.Tensor, t: int) -> torch.Tensor:
                inp = torch.cat([xt, lm, masked], 1)
                e = unet(torch.cat([inp, inp]), torch.tensor([float(t)], device=device), torch.cat([neg, cond]))
                e_neg, e_cond = e.chunk(2)
                return e_neg + guidance * (e_cond - e_neg)

            lat = dpm_solver_2m(eps_fn, x, steps, abar)
            gen_img = from_sample(vae.decoder(lat / SCALING_FACTOR))
            keep = masks[s : s + 16] < 0.5
            out.append(np.where(keep, img, gen_img))
    return np.concatenate(out) if out else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.float32)
