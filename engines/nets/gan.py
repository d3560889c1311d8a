"""A DCGAN-family generator and discriminator, with what small-data GANs need.

Generator: the DCGAN of Radford et al. (transposed convolutions, batch norm, ReLU, tanh),
resolution a parameter (4 -> 8 -> ... -> resolution). Discriminator: the DCGAN
discriminator with spectral normalisation on every layer and no batch norm (Miyato et al.),
which keeps it Lipschitz-bounded so hinge or non-saturating losses train stably on ~6,000 images.

Both save and load with `save_pretrained` / `from_pretrained` (safetensors + config.json)
through huggingface_hub's PyTorchModelHubMixin.
"""

from __future__ import annotations

import itertools
import math

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _levels(resolution: int) -> int:
    levels = int(math.log2(resolution)) - 2
    if resolution < 8 or 2 ** (levels + 2) != resolution:
        raise ValueError(f"resolution must be a power of two >= 8, not {resolution}")
    return levels


def label_embeddings(label_sizes: list[int], dim: int) -> nn.ModuleList:
    """One table per label set (e.g. category, style), each with one extra row, index n: "any".
    Training drops labels to "any" now and then, so every label can be left open when sampling."""
    return nn.ModuleList(nn.Embedding(n + 1, dim) for n in label_sizes)


class Generator(nn.Module, PyTorchModelHubMixin, tags=["gan", "dcgan", "atelier"], license="mit"):
    """label_sizes=() is the unconditional GAN. With labels (e.g. (8, 4): category and style), the
    sum of their embeddings modulates every batch norm (conditional batch norm: a class-dependent
    gain and bias, zero at the start so training begins from the unconditional GAN). Labels are not
    concatenated to z: a first try that did so learned to ignore z, one image per class. Class
    morphs are walks between label embeddings."""

    def __init__(
        self,
        z_dim: int = 128,
        resolution: int = 64,
        base_channels: int = 64,
        max_channels: int = 512,
        label_sizes: tuple[int, ...] = (),
        embed_dim: int = 64,
    ):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        self.label_sizes = list(label_sizes)
        self.label_embeddings = label_embeddings(self.label_sizes, embed_dim)
        levels = _levels(resolution)
        channels = [min(max_channels, base_channels * 2**i) for i in range(levels - 1, -1, -1)]  # 64px: 512..64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, channels[0], 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in itertools.pairwise(channels):  # doubling the side each time
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]  # the last doubling, to RGB
        self.net = nn.Sequential(*layers)
        norms = [m.num_features for m in self.net if isinstance(m, nn.BatchNorm2d)] if self.label_sizes else []
        self.label_modulations = nn.ModuleList(nn.Linear(embed_dim, 2 * c) for c in norms)  # gain and bias
        for linear in self.label_modulations:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def embed(self, labels: torch.Tensor) -> torch.Tensor:
        """labels [N, len(label_sizes)] (index n = "any") -> the conditioning vector [N, embed_dim]."""
        return sum(table(labels[:, k]) for k, table in enumerate(self.label_embeddings))

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, embedding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """z [N, z_dim] (+ labels or their embedding) -> images [N, 3, resolution, resolution] in [-1, 1]."""
        h = z[:, :, None, None]
        if not self.label_sizes:
            return self.net(h)
        embedding = self.embed(labels) if embedding is None else embedding
        modulations = iter(self.label_modulations)
        for layer in self.net:
            h = layer(h)
            if isinstance(layer, nn.BatchNorm2d):
                gain, bias = next(modulations)(embedding)[:, :, None, None].chunk(2, dim=1)
                h = h * (1 + gain) + bias
        return h


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation (Karras et al. 2018), as StyleGAN's discriminators end: one
    more feature map, how much the images of each group of `group` differ, so that a generator drawing
    too little variety is told apart by the discriminator."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group, n) if n % min(self.group, n) == 0 else 1
        spread = x.reshape(group, -1, c, h, w).var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3))  # [n / group]
        return torch.cat([x, spread.repeat(group)[:, None, None, None].expand(n, 1, h, w)], 1)


class Discriminator(nn.Module, PyTorchModelHubMixin, tags=["gan", "atelier"], license="mit"):
    """With labels, a projection discriminator (Miyato & Koyama 2018): the score gains the inner
    product of each label's embedding with the pooled features."""

    def __init__(
        self,
        resolution: int = 64,
        base_channels: int = 64,
        max_channels: int = 512,
        label_sizes: tuple[int, ...] = (),
        minibatch_std: bool = False,
        minibatch_group: int = 4,
    ):
        super().__init__()
        levels = _levels(resolution)
        channels = [min(max_channels, base_channels * 2**i) for i in range(levels)]  # 64px: 64..512
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, channels[0], 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        if minibatch_std:
            layers += [MinibatchStd(minibatch_group)]
        layers += [spectral_norm(nn.Conv2d(channels[-1] + minibatch_std, 1, 4, 1, 0))]  # 4x4 -> 1x1 score
        self.net = nn.Sequential(*layers)
        self.features = channels[-1]  # what the label projection reads (not the minibatch spread)
        self.label_sizes = list(label_sizes)
        self.label_embeddings = label_embeddings(self.label_sizes, channels[-1])
        for table in self.label_embeddings:
            spectral_norm(table)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.label_sizes:
            return self.net(x).flatten(1).squeeze(1)
        h = self.net[:-1](x)  # features [N, C, 4, 4]
        score = self.net[-1](h).flatten(1).squeeze(1)
        pooled = h[:, : self.features].sum((2, 3))
        return score + sum((table(labels[:, k]) * pooled).sum(1) for k, table in enumerate(self.label_embeddings))


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout", p: float = 1.0) -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020), applied to real and fake images alike,
    so the discriminator cannot memorise the small training set and G still gets gradients.
    p < 1: each op is applied to each image with probability p (the adaptive augmentation of
    Karras et al. 2020, whose trainer moves p to keep the discriminator from over-fitting)."""
    n = x.shape[0]
    if p <= 0:
        return x
    for name in filter(None, policy.split(",")):
        before = x
        if name == "color":
            factors = torch.rand(3, n, 1, 1, 1, device=x.device, dtype=x.dtype)
            x = x + (factors[0] - 0.5)  # brightness
            mean = x.mean(1, keepdim=True)
            x = (x - mean) * (factors[1] * 2) + mean  # saturation
            mean = x.mean((1, 2, 3), keepdim=True)
            x = (x - mean) * (factors[2] + 0.5) + mean  # contrast
        elif name == "translation":  # shift by up to 1/8 of the side, filling with zeros
            h, w = x.shape[2:]
            sy, sx = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
            tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
            gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
            gy = (gy[None] + ty + 1).clamp(0, h + 1)
            gx = (gx[None] + tx + 1).clamp(0, w + 1)
            padded = nn.functional.pad(x, [1, 1, 1, 1])
            x = padded.permute(0, 2, 3, 1)[torch.arange(n, device=x.device)[:, None, None], gy, gx].permute(0, 3, 1, 2)
        elif name == "cutout":  # one square of half the side set to zero
            h, w = x.shape[2:]
            ch, cw = h // 2, w // 2
            oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
            ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
            gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
            inside = (
                (gy[None] >= oy - ch // 2)
                & (gy[None] < oy + ch - ch // 2)
                & (gx[None] >= ox - cw // 2)
                & (gx[None] < ox + cw - cw // 2)
            )
            x = x * (~inside)[:, None].to(x.dtype)
        else:
            raise ValueError(f"unknown DiffAugment policy {name!r}")
        if p < 1:
            x = torch.where(torch.rand(n, 1, 1, 1, device=x.device) < p, x, before)
    return x.contiguous()
