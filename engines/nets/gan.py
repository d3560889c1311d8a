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


class Generator(nn.Module, PyTorchModelHubMixin, tags=["gan", "dcgan", "atelier"], license="mit"):
    def __init__(self, z_dim: int = 128, resolution: int = 64, base_channels: int = 64, max_channels: int = 512):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [N, z_dim] -> images [N, 3, resolution, resolution] in [-1, 1]."""
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module, PyTorchModelHubMixin, tags=["gan", "atelier"], license="mit"):
    def __init__(self, resolution: int = 64, base_channels: int = 64, max_channels: int = 512):
        super().__init__()
        levels = _levels(resolution)
        channels = [min(max_channels, base_channels * 2**i) for i in range(levels)]  # 64px: 64..512
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, channels[0], 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        layers += [spectral_norm(nn.Conv2d(channels[-1], 1, 4, 1, 0))]  # 4x4 -> 1x1 score
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).squeeze(1)


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """Differentiable augmentation (Zhao et al. 2020), applied to real and fake images alike,
    so the discriminator cannot memorise the small training set and G still gets gradients."""
    n = x.shape[0]
    for name in filter(None, policy.split(",")):
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
    return x.contiguous()
