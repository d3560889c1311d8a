"""A feature network for emoji art: the project's stand-in for the Inception network of FID.

A small residual CNN (64x64 RGB -> a 256-d pooled feature vector) with three heads:
- `embed`: a projection into MiniLM's 384-d sentence space, trained contrastively against the
  captions' embeddings (a miniature CLIP whose text tower is MiniLM, frozen);
- `style` and `category`: classifiers for the four art sets and the eight emoji groups.
The pooled features are what the quality harness compares (Fréchet distance, precision/recall);
the heads give it class-consistency and caption retrieval.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x), inplace=True)


class EmojiEncoder(nn.Module, PyTorchModelHubMixin, tags=["atelier", "feature-extractor", "emoji"], license="mit"):
    def __init__(
        self,
        resolution: int = 64,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        embed_dim: int = 384,
        style_names: tuple[str, ...] = (),
        category_names: tuple[str, ...] = (),
    ):
        super().__init__()
        self.resolution = resolution
        self.style_names, self.category_names = list(style_names), list(category_names)
        widths = list(widths)
        # the stem halves the side at once (emoji outlines survive 32x32; full-size convolutions cost most)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, c_in = [], widths[0]
        for i, c_out in enumerate(widths):  # 64px: 32 -> 32 -> 16 -> 8 -> 4
            blocks += [ResidualBlock(c_in, c_out, 1 if i == 0 else 2), ResidualBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = widths[-1]
        self.embed = nn.Linear(widths[-1], embed_dim)
        self.style = nn.Linear(widths[-1], max(1, len(style_names)))
        self.category = nn.Linear(widths[-1], max(1, len(category_names)))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images [N,3,H,W] in [-1, 1] (resized to the trained resolution) -> pooled features [N, 256]."""
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        return self.blocks(self.stem(x)).mean((2, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(x)
        return {
            "features": features,
            "embedding": F.normalize(self.embed(features), dim=-1),
            "style_logits": self.style(features),
            "category_logits": self.category(features),
        }
