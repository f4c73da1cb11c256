"""A small conditional UNet with SD2-inpainting's interface: sample [B,9,h,w] (4 noisy latents, 1 mask, 4 masked-image
latents), timestep, encoder_hidden_states [B,77,D] -> out_sample [B,4,h,w], the predicted noise (epsilon).
Attention projections are named as diffusers names them (to_q, to_k, to_v, to_out.0) for optional UNet LoRA."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)  # flip_sin_to_cos=True, as SD


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.conv_shortcut(x) + h


class Attention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.to_q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.to_k(context).reshape(b, context.shape[1], h, d // h).transpose(1, 2)
        v = self.to_v(context).reshape(b, context.shape[1], h, d // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) * (d // h) ** -0.5, dim=-1)
        return self.to_out[0]((w @ v).transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
    """SD's BasicTransformerBlock, reduced: optional self-attention, cross-attention to the text, feed-forward."""

    def __init__(self, dim: int, context_dim: int, heads: int = 4, self_attention: bool = True):
        super().__init__()
        self.norm = nn.GroupNorm(8, dim)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.self_attention = self_attention
        if self_attention:
            self.norm1 = nn.LayerNorm(dim)
            self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, context_dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        if self.self_attention:
            h1 = self.norm1(h)
            h = h + self.attn1(h1, h1)
        h = h + self.attn2(self.norm2(h), context)
        h = h + self.ff(self.norm3(h))
        return x + self.proj_out(h.transpose(1, 2).reshape(b, c, hgt, wid))


class UNet(nn.Module):
    def __init__(self, context_dim: int, channels: tuple[int, int, int] = (48, 96, 128), in_channels: int = 9, out_channels: int = 4):
        super().__init__()
        c0, c1, c2 = channels
        temb = c0 * 4
        self.config = {"in_channels": in_channels, "out_channels": out_channels, "block_out_channels": list(channels), "cross_attention_dim": context_dim, "sample_size": 32}
        self.time_embedding = nn.Sequential(nn.Linear(c0, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(in_channels, c0, 3, 1, 1)
        self.down0 = ResBlock(c0, c0, temb)
        self.downsample0 = nn.Conv2d(c0, c0, 3, 2, 1)
        self.down1 = ResBlock(c0, c1, temb)
        self.attn_down1 = TransformerBlock(c1, context_dim, self_attention=False)
        self.downsample1 = nn.Conv2d(c1, c1, 3, 2, 1)
        self.mid0 = ResBlock(c1, c2, temb)
        self.attn_mid = TransformerBlock(c2, context_dim, self_attention=True)
        self.mid1 = ResBlock(c2, c2, temb)
        self.up1 = ResBlock(c2 + c1, c1, temb)
        self.attn_up1 = TransformerBlock(c1, context_dim, self_attention=False)
        self.up0 = ResBlock(c1 + c0, c0, temb)
        self.norm_out = nn.GroupNorm(8, c0)
        self.conv_out = nn.Conv2d(c0, out_channels, 3, 1, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        # timestep may be a scalar, [1] or [B]: broadcast it over the batch as diffusers does
        t = timestep.reshape(-1).to(sample.dtype).expand(sample.shape[0])
        temb = self.time_embedding(timestep_embedding(t, self.conv_in.out_channels))
        ctx = encoder_hidden_states
        h0 = self.down0(self.conv_in(sample), temb)
        h1 = self.attn_down1(self.down1(self.downsample0(h0), temb), ctx)
        m = self.mid0(self.downsample1(h1), temb)
        m = self.mid1(self.attn_mid(m, ctx), temb)
        u = F.interpolate(m, scale_factor=2.0, mode="nearest")
        u = self.attn_up1(self.up1(torch.cat([u, h1], 1), temb), ctx)
        u = F.interpolate(u, scale_factor=2.0, mode="nearest")
        u = self.up0(torch.cat([u, h0], 1), temb)
        return self.conv_out(F.silu(self.norm_out(u)))
