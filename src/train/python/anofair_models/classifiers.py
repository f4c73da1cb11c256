"""The evaluation networks: attribute classifier (sex, age group), diagnostic classifier with the TorchXRayVision
interface, and the PriCheXy-Net style Siamese re-identification network, each a small residual CNN."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dataset import FINDINGS
from .layers import ConvBnAct, Stage


class Backbone(nn.Module):
    """A scaled-down ResNet: optional input pooling, a stride-2 stem, four stride-2 stages, global average pool."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64, 96, 128), depths: tuple[int, ...] = (1, 1, 1, 1), input_pool: int = 2):
        super().__init__()
        self.input_pool = input_pool
        self.stem = ConvBnAct(in_channels, widths[0], 5, 2)
        self.stages = nn.Sequential(*[Stage(widths[i], widths[i + 1], depths[i]) for i in range(len(depths))])
        self.out_channels = widths[len(depths)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_pool > 1:
            x = F.avg_pool2d(x, self.input_pool)
        return self.stages(self.stem(x)).mean(dim=(2, 3))


class AttributeClassifier(nn.Module):
    """display01 image [B,1,256,256] -> probabilities [B,2] = p(male), p(age >= 60) (the AttrNzr 'AI judge')."""

    classes = ["male", "age>=60"]

    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.backbone.out_channels, 2))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(images))


class DiagnosticClassifier(nn.Module):
    """TorchXRayVision interface: [B,1,224,224] in [-1024,1024] -> [B,6] sigmoid probability per finding."""

    pathologies = ["Nodule", "Mass", "Effusion", "Cardiomegaly", "Consolidation", "Pneumothorax"]

    def __init__(self):
        super().__init__()
        self.backbone = Backbone(input_pool=1, widths=(16, 24, 48, 96, 128), depths=(1, 1, 2, 1))
        self.head = nn.Linear(self.backbone.out_channels, len(FINDINGS))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images / 1024.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(images))


class SiameseReid(nn.Module):
    """PriCheXy-Net's verification network, scaled down: shared backbone -> 128-d sigmoid embedding;
    |f1 - f2| -> linear -> logit of 'same patient'. Inputs are display01 images [B,1,256,256]."""

    def __init__(self, embedding_dim: int = 128):
        super().__init__()
        self.backbone = Backbone(widths=(16, 32, 64, 96, 160), depths=(1, 1, 1, 1))
        self.embed = nn.Linear(self.backbone.out_channels, embedding_dim)
        self.head = nn.Linear(embedding_dim, 1)

    def embedding(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.embed(self.backbone(images)))

    def pair_logit(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        return self.head((e1 - e2).abs()).squeeze(1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.pair_logit(self.embedding(a), self.embedding(b))


class EmbeddingExport(nn.Module):
    def __init__(self, net: SiameseReid):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.embedding(images)


class HeadExport(nn.Module):
    def __init__(self, net: SiameseReid):
        super().__init__()
        self.net = net

    def forward(self, embedding_a: torch.Tensor, embedding_b: torch.Tensor) -> torch.Tensor:
        return self.net.pair_logit(embedding_a, embedding_b)
