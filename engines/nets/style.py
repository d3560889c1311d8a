"""A StyleGAN-family generator (Karras et al. 2019, 2020) at the size two CPU cores train.

- Mapping: z, normalised, through an MLP to a style vector w (learning rate ×0.01, as StyleGAN's
  mapping layers are, so w moves slowly while the synthesis network learns to read it).
- Synthesis: a learned 4×4 constant, then per resolution an upsampling convolution and a plain
  one, each *modulated* by its own w (the style scales the input channels) and *demodulated*
  (each output channel rescaled to unit expected variance, StyleGAN2's replacement for AdaIN,
  without its droplet artefacts). RGB comes out at every resolution and is summed up the way
  (StyleGAN2's skip generator), so coarse layers draw the shape early and fine layers add to it.
- Every layer takes its own w, so `synthesis` can be given different ws per layer: style mixing
  (layers before a crossover from one seed, the rest from another), which training also does
  (mixing regularisation) so that neighbouring layers do not lean on each other.
- Truncation happens in w space around `w_avg`, the running mean of w kept during training:
  w ← w̄ + ψ (w − w̄). ψ = 0 draws w̄'s image for every seed.

Weights use StyleGAN's equalised learning rate (stored at unit variance, scaled at run time by
1/√fan-in), so Adam's steps are the same size for every layer. No per-pixel noise inputs: they
carry stochastic texture (hair, skin), which flat vector art does not have.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

GAIN = math.sqrt(2)  # keeps a leaky ReLU's output at its input's variance (StyleGAN's "lrelu" gain)


class EqualLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int, bias: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), bias / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(c_in), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * GAIN if self.activate else x


class StyledConv(nn.Module):
    """A convolution whose input channels are scaled by a style (the affine map of w), then whose
    output channels are demodulated. Written as scale → shared convolution → rescale, which is
    StyleGAN2's per-sample modulated weight without building one weight per image."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, kernel: int = 3, up: bool = False, rgb: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias=1.0)  # styles start at 1: the plain convolution
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale, self.up, self.rgb = 1 / math.sqrt(c_in * kernel * kernel), up, rgb

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)  # [N, c_in]
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        weight = self.weight * self.scale
        x = F.conv2d(x * style[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.rgb:  # RGB layers are modulated only: their output is an image, not features to normalise
            return x + self.bias[None, :, None, None]
        # the variance each output channel would have for unit-variance inputs: sum over (in, kernel) of (w·s)²
        demodulate = torch.rsqrt(style.square() @ weight.square().sum((2, 3)).t() + 1e-8)  # [N, c_out]
        x = x * demodulate[:, :, None, None] + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * GAIN


class StyleGenerator(nn.Module, PyTorchModelHubMixin, tags=["gan", "stylegan", "atelier"], license="mit"):
    """z [N, z_dim] → images [N, 3, resolution, resolution] in [-1, 1]. `mapping`, `synthesis` and
    `num_ws` are what style mixing and truncation in w space need; `forward(z, psi)` is both."""

    def __init__(
        self,
        z_dim: int = 128,
        w_dim: int = 128,
        resolution: int = 32,
        base_channels: int = 32,
        max_channels: int = 512,
        mapping_layers: int = 4,
    ):
        super().__init__()
        levels = int(math.log2(resolution)) - 1  # 32 px: 4, 8, 16, 32
        if resolution < 8 or 2 ** (levels + 1) != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, not {resolution}")
        # the DCGAN's widths up to half the resolution (32 px, base 32: 128, 64, 32), then half the base at full size
        widths = [min(max_channels, base_channels * 2**i) for i in range(levels - 2, -1, -1)] + [base_channels // 2]
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.label_sizes: list[int] = []  # unconditional, as code that serves both generator kinds asks
        self.mapping_net = nn.Sequential(
            *(EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=0.01, activate=True) for i in range(mapping_layers))
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.convs = nn.ModuleList([StyledConv(widths[0], widths[0], w_dim)])
        self.to_rgb = nn.ModuleList([StyledConv(widths[0], 3, w_dim, kernel=1, rgb=True)])
        for c_in, c_out in itertools.pairwise(widths):
            self.convs.extend([StyledConv(c_in, c_out, w_dim, up=True), StyledConv(c_out, c_out, w_dim)])
            self.to_rgb.append(StyledConv(c_out, 3, w_dim, kernel=1, rgb=True))
        self.num_ws = len(self.convs)  # one w per convolution; each RGB layer reads its resolution's last

    def layer_sizes(self) -> list[int]:
        """The resolution each w drives: 32 px → [4, 8, 8, 16, 16, 32, 32]."""
        return [4] + [2 ** (2 + (i + 1) // 2) for i in range(1, self.num_ws)]

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """z [N, z_dim] → w [N, w_dim], truncated towards w̄ by psi."""
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # StyleGAN's pixel norm of z
        w = self.mapping_net(z)
        return w if psi == 1 else torch.lerp(self.w_avg.to(w.dtype), w, psi)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """ws [N, num_ws, w_dim] (one w per layer) → images."""
        x = self.const.expand(len(ws), -1, -1, -1)
        x = self.convs[0](x, ws[:, 0])
        image = self.to_rgb[0](x, ws[:, 0])
        for level in range(1, len(self.to_rgb)):
            first = 2 * level - 1
            x = self.convs[first + 1](self.convs[first](x, ws[:, first]), ws[:, first + 1])
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = image + self.to_rgb[level](x, ws[:, first + 1])
        return image  # unbounded, as StyleGAN2's: pil_batch clamps when it makes 8-bit images

    def mix(self, w_coarse: torch.Tensor, w_fine: torch.Tensor, crossover: int | torch.Tensor) -> torch.Tensor:
        """Per-layer ws [N, num_ws, w_dim]: layers before `crossover` (one for all, or one per image)
        take w_coarse's style, the rest w_fine's. crossover = num_ws is w_coarse's image, 0 is w_fine's."""
        layers = torch.arange(self.num_ws, device=w_coarse.device)[None, :, None]
        crossover = torch.as_tensor(crossover, device=w_coarse.device).reshape(-1, 1, 1)
        return torch.where(layers < crossover, w_coarse[:, None], w_fine[:, None])

    def forward(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        w = self.mapping(z, psi)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1))
