"""Image quality metrics in plain torch (no scikit-image): PSNR and SSIM on [0, 1] images."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for batches [N,C,H,W] in [0, 1]; identical images give +inf."""
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004, Gaussian window, channel mean) for [N,C,H,W] in [0, 1].

    Differentiable, so training uses it as a loss. The window shrinks for tiny images.
    """
    a, b = a.float(), b.float()
    channels = a.shape[1]
    window = min(window, a.shape[-1], a.shape[-2])
    w = _gaussian_window(window, sigma, channels, a.device)
    c1, c2 = 0.01**2, 0.03**2
    mu_a = F.conv2d(a, w, groups=channels)
    mu_b = F.conv2d(b, w, groups=channels)
    var_a = F.conv2d(a * a, w, groups=channels) - mu_a**2
    var_b = F.conv2d(b * b, w, groups=channels) - mu_b**2
    cov = F.conv2d(a * b, w, groups=channels) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)
