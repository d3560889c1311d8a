"""A second discriminator that reads frozen features (train_gan --feature-critic).

Vision-aided GAN training (Kumari et al. 2022) and Projected GANs (Sauer et al. 2021) judge images
in the feature space of a network trained for something else, with only a small head learning:
such a critic cannot memorise a small training set the way a discriminator learning from pixels
does, and its verdicts are about what the features see (shapes, colours, parts) rather than
pixel noise. Here the features are the bundled VAE's encoder (checkpoints/emoji-vae, trained on
the emoji train split to reconstruct), read up to its middle block, 128 channels at a quarter of
the side. Not the quality harness's feature network (emoji-features): a generator trained against
the measure's own features would score well on the measure without drawing better.

The head is the part that learns: spectrally normalised convolutions down to one score, with the
minibatch standard deviation before the last (as the main discriminator has it), hinge loss.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from engines.nets.gan import MinibatchStd

VAE = Path(__file__).resolve().parent.parent / "checkpoints" / "emoji-vae"


class FeatureCritic(nn.Module):
    """Scores images [N,3,H,W] in [-1, 1] from a frozen encoder's features (the sides a multiple of twice
    the encoder's downsampling: the head halves them once more)."""

    def __init__(self, encoder: nn.Module, channels: int = 128, minibatch_group: int = 4):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        width = encoder.conv_out.in_channels  # what the middle block puts out
        self.head = nn.Sequential(
            spectral_norm(nn.Conv2d(width, channels, 3, 1, 1)),
            nn.LeakyReLU(0.2, True),
            spectral_norm(nn.Conv2d(channels, channels, 4, 2, 1)),
            nn.LeakyReLU(0.2, True),
            MinibatchStd(minibatch_group),
            spectral_norm(nn.Conv2d(channels + 1, 1, 3, 1, 1)),
        )

    def train(self, mode: bool = True) -> FeatureCritic:
        super().train(mode)
        self.encoder.eval()  # frozen: its group norms and attention never switch to training behaviour
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        encoder = self.encoder
        h = encoder.conv_in(images)
        for block in encoder.down_blocks:
            h = block(h)
        return encoder.mid_block(h)

    def head_score(self, features: torch.Tensor) -> torch.Tensor:
        """One score per image from its features (the mean of the head's score map)."""
        return self.head(features).mean((1, 2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head_score(self.features(images))

    def state_dict(self, *args, **kwargs):  # the head only: the encoder is the bundled VAE's, loaded afresh
        return self.head.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.head.load_state_dict(state_dict, strict, assign)


def vae_encoder(folder: Path = VAE) -> nn.Module:
    """The encoder of a diffusers AutoencoderKL folder, in fp32."""
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(folder).encoder.float()
