"""A small KL autoencoder with SD's interface: 3-channel images in [-1,1] at H x W <-> 4 latent channels at
H/8 x W/8. Latent statistics are rescaled after training so that SD's scaling factor 0.18215 brings latents to
unit variance, as it does for SD's own VAE."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALING_FACTOR = 0.18215
LATENT_CHANNELS = 4


class Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Encoder(nn.Module):
    def __init__(self, w: tuple[int, int, int] = (24, 48, 96)):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, w[0], 3, 2, 1), nn.SiLU(),  # /2
            nn.Conv2d(w[0], w[1], 3, 2, 1), Res(w[1]),  # /4
            nn.Conv2d(w[1], w[2], 3, 2, 1), Res(w[2]), Res(w[2]), nn.SiLU(),  # /8
        )
        self.conv_out = nn.Conv2d(w[2], 2 * LATENT_CHANNELS, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.net(x))


DEFAULT_DECODER = {"block_out_channels": [24, 48, 96], "res_blocks": [1, 1, 2], "hidden": 16}


class Decoder(nn.Module):
    """Latents -> image through three nearest-neighbour upsamplings. `widths` and `blocks` run from the finest level
    (/2) to the coarsest (/8); the defaults are the first demo model's decoder, whose weight names they keep."""

    def __init__(self, w: tuple[int, int, int] = (24, 48, 96), blocks: tuple[int, int, int] = (1, 1, 2), hidden: int = 16):
        super().__init__()
        self.config = {"block_out_channels": list(w), "res_blocks": list(blocks), "hidden": hidden}
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, w[2], 3, 1, 1)
        layers: list[nn.Module] = [Res(w[2]) for _ in range(blocks[2])]
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(w[2], w[1], 3, 1, 1), *[Res(w[1]) for _ in range(blocks[1])]]  # /4
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(w[1], w[0], 3, 1, 1), *[Res(w[0]) for _ in range(blocks[0])]]  # /2
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(w[0], hidden, 3, 1, 1), nn.SiLU(), nn.Conv2d(hidden, 3, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.conv_in(z))


def decoder_from_config(config: dict | None) -> Decoder:
    """The decoder a vae_decoder/config.json describes (its "decoder" entry; none: the first demo decoder)."""
    c = {**DEFAULT_DECODER, **((config or {}).get("decoder") or {})}
    return Decoder(tuple(c["block_out_channels"]), tuple(c["res_blocks"]), int(c["hidden"]))


class AutoencoderKL(nn.Module):
    def __init__(self, decoder: Decoder | None = None):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = decoder if decoder is not None else Decoder()

    def with_decoder(self, decoder: Decoder) -> "AutoencoderKL":
        """A new autoencoder with this one's encoder weights (so the same latent space) and the given decoder."""
        other = AutoencoderKL(decoder)
        other.encoder.load_state_dict(self.encoder.state_dict())
        return other

    def parameters_of(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.encoder(images)
        mean, logvar = p[:, :LATENT_CHANNELS], p[:, LATENT_CHANNELS:].clamp(-30.0, 20.0)
        return mean, logvar

    def rescale_latents(self, latent_std: float) -> float:
        """Fold a factor k into the encoder's mean output and 1/k into the decoder's first (linear) layer, so the
        unscaled latents have std 1/SCALING_FACTOR. The composite encode->decode function is unchanged."""
        k = (1.0 / SCALING_FACTOR) / latent_std
        with torch.no_grad():
            conv = self.encoder.conv_out
            conv.weight[:LATENT_CHANNELS] *= k
            conv.bias[:LATENT_CHANNELS] *= k
            conv.bias[LATENT_CHANNELS:] += 2.0 * math.log(k)  # logvar of k * z
            self.decoder.conv_in.weight /= k
        return k


class VaeEncoderExport(nn.Module):
    """sample [B,3,H,W] in [-1,1] -> latent_parameters [B,8,H/8,W/8] (mean then log-variance), as optimum exports
    SD's vae_encoder; the pipeline uses the mean (or a sample) times 0.18215."""

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        mean, logvar = self.vae.parameters_of(sample)
        return torch.cat([mean, logvar], dim=1)


class VaeDecoderExport(nn.Module):
    """latent_sample [B,4,h,w] (already divided by 0.18215) -> sample [B,3,8h,8w] in about [-1,1]."""

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return self.vae.decoder(latent_sample)
