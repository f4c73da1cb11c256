"""Small convolutional building blocks shared by the demo models."""
from __future__ import annotations

import torch
from torch import nn


class ConvBnAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.SiLU(inplace=True),
        )


class Residual(nn.Module):
    """Two 3x3 convolutions with a shortcut (the bottleneck of YOLOv8's C2f, without the split)."""

    def __init__(self, c: int):
        super().__init__()
        self.a = ConvBnAct(c, c)
        self.b = ConvBnAct(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class Stage(nn.Sequential):
    """A stride-2 convolution followed by `depth` residual blocks."""

    def __init__(self, cin: int, cout: int, depth: int = 1):
        super().__init__(ConvBnAct(cin, cout, 3, 2), *[Residual(cout) for _ in range(depth)])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
