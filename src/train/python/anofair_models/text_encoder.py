"""A small CLIP text transformer. Parameter names follow transformers' CLIPTextModel
(text_model.encoder.layers.N.self_attn.q_proj ...), so a PEFT LoRA config for SD's text encoder
(target_modules q_proj, k_proj, v_proj, out_proj) finds the same modules here."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .tokenizer import BOS_ID, EOS_ID, MAX_LENGTH


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, h, d // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) * (d // h) ** -0.5 + mask, dim=-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, d))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(dim, mlp)
        self.mlp.fc2 = nn.Linear(mlp, dim)
        self.layer_norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.layer_norm2(x))))


class TextTransformer(nn.Module):
    def __init__(self, dense_vocab: int, dim: int, layers: int, heads: int, mlp: int):
        super().__init__()
        self.dense_vocab = dense_vocab
        self.embeddings = nn.Module()
        # two extra rows hold <|startoftext|> and <|endoftext|>, whose CLIP ids (49406/49407) lie far above ours
        self.embeddings.token_embedding = nn.Embedding(dense_vocab + 2, dim)
        self.embeddings.position_embedding = nn.Embedding(MAX_LENGTH, dim)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(EncoderLayer(dim, heads, mlp) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(dim)
        self.register_buffer("causal", torch.triu(torch.full((MAX_LENGTH, MAX_LENGTH), -1e4), diagonal=1), persistent=False)
        self.register_buffer("positions", torch.arange(MAX_LENGTH), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = input_ids.shape[1]
        dense = torch.where(input_ids >= BOS_ID, input_ids - BOS_ID + self.dense_vocab, input_ids.clamp(0, self.dense_vocab - 1))
        dense = dense.clamp(0, self.dense_vocab + 1)
        x = self.embeddings.token_embedding(dense) + self.embeddings.position_embedding(self.positions[:n])[None]
        mask = self.causal[:n, :n]
        for layer in self.encoder.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        # CLIP pools at the end-of-text token, the highest id in the row
        eos = (input_ids == EOS_ID).int().argmax(dim=1)
        pooled = x[torch.arange(x.shape[0], device=x.device), eos]
        return x, pooled


class TextEncoder(nn.Module):
    """input_ids [B,77] int64 -> last_hidden_state [B,77,D], pooler_output [B,D]."""

    def __init__(self, dense_vocab: int, dim: int = 64, layers: int = 2, heads: int = 4, mlp: int = 256):
        super().__init__()
        self.config = {"dense_vocab": dense_vocab, "hidden_size": dim, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": mlp, "max_position_embeddings": MAX_LENGTH, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": 0}
        self.text_model = TextTransformer(dense_vocab, dim, layers, heads, mlp)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_model(input_ids)
