"""Quality metrics in plain torch (no scikit-image, no scipy).

Per image: PSNR and SSIM on [0, 1] images. Per set of feature vectors: the Fréchet distance
(FID's formula, in whatever feature space is given) and k-NN precision / recall.
"""

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


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features [N, D] (FID's formula):
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^1/2).

    The trace of the matrix square root is computed as the sum of square roots of the
    eigenvalues of S_a^1/2 S_b S_a^1/2 (symmetric, so eigh is stable), in float64.
    """
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    mean_term = (a.mean(0) - b.mean(0)).pow(2).sum()
    return float(mean_term + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt)


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in its own set (itself excluded)."""
    return torch.cdist(x, x).kthvalue(k + 1, dim=1).values


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points, reaching the k-th nearest
    neighbour. Precision: the share of fakes inside the real manifold (fidelity). Recall: the
    share of reals inside the fake manifold (diversity: how much of the real art is covered).
    """
    fake, real = fake.float(), real.float()
    precision = (torch.cdist(fake, real) <= _knn_radii(real, k)[None]).any(1).float().mean()
    recall = (torch.cdist(real, fake) <= _knn_radii(fake, k)[None]).any(1).float().mean()
    return float(precision), float(recall)


def coverage(fake: torch.Tensor, real: torch.Tensor, k: int = 3) -> float:
    """k-NN coverage (Naeem et al. 2020): the share of reals with a fake inside their own ball (the
    k-th nearest real). Recall draws its balls around the fakes instead, so a few far-flung samples
    count for much and a generator whose samples crowd together (small balls) for little; coverage
    asks only whether real art has a sample near it."""
    fake, real = fake.float(), real.float()
    return float((torch.cdist(real, fake) <= _knn_radii(real, k)[:, None]).any(1).float().mean())
