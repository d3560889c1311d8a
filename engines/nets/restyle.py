"""The Restyle translator: one generator for every art set, told which set to draw in (StarGAN's
idea: the sets share what an emoji is, only the drawing differs), and its discriminator.

Generator: CycleGAN's ResNet generator at a CPU's size. Two stride-2 convolutions take a 64 px image
to 16 px, residual blocks work there, two upsampling convolutions come back. The target set enters
every residual block through conditional instance normalisation (Dumoulin et al. 2017): each set
has its own scale and shift per normalised layer. A `style` argument of shape [N, sets] mixes those
tables (a one-hot row is one set; a blend of two rows is a drawing between them), which is what the
Restyle tab's strength slider walks along. The output is the input plus a learned change (the
translation keeps what it does not need to alter); callers clamp it to [-1, 1] when they make images.
With `keep_white`, the change is confined to the art's footprint (every pixel that is not white, grown
by a pixel): art drawn on white keeps its white, so the generator cannot paint haloes around it, and
an image with no white (a photo) is changed everywhere as before. An exported translator carries its
critic's set classifier (`reader`, a SetReader) to name the set an image is drawn in.

Discriminator: a PatchGAN (each output judges a ~34 px patch) with spectral norm and one output map
per art set (StarGAN v2's multi-task discriminator): it is asked only whether an image is a real
drawing *of the set it claims*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# the art is drawn on white: a pixel at 245 of 255 or above in every channel is background, the line
# training/colours.py's BACKGROUND draws for colour names; here in [-1, 1]
WHITE = 245 / 127.5 - 1


def footprint(images: torch.Tensor) -> torch.Tensor:
    """Images [N,3,H,W] in [-1, 1] -> [N,1,H,W]: 1 where the art is (a pixel not white, or next to one), else 0."""
    art = (images < WHITE).any(1, keepdim=True).to(images.dtype)
    return F.max_pool2d(art, 3, 1, 1)


class StyledNorm(nn.Module):
    """Instance norm whose scale and shift come from the target set (a row of `style` weights)."""

    def __init__(self, channels: int, sets: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.scale = nn.Parameter(torch.ones(sets, channels))
        self.shift = nn.Parameter(torch.zeros(sets, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = style @ self.scale, style @ self.shift
        return self.norm(x) * scale[:, :, None, None] + shift[:, :, None, None]


class StyledBlock(nn.Module):
    def __init__(self, channels: int, sets: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect")
        self.norm1 = StyledNorm(channels, sets)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect")
        self.norm2 = StyledNorm(channels, sets)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), style))
        return x + self.norm2(self.conv2(y), style)


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.InstanceNorm2d(c_out, affine=True), nn.ReLU())


def _up(c_in: int, c_out: int) -> nn.Sequential:
    # nearest upsampling then a convolution: no checkerboard, unlike a transposed convolution
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, 1, 1, padding_mode="reflect"),
        nn.InstanceNorm2d(c_out, affine=True),
        nn.ReLU(),
    )


class Translator(
    nn.Module, PyTorchModelHubMixin, tags=["image-to-image", "cyclegan", "stargan", "atelier"], license="mit"
):
    def __init__(
        self,
        set_names: tuple[str, ...] = ("a", "b"),
        set_titles: tuple[str, ...] = (),
        channels: int = 32,
        blocks: int = 6,
        resolution: int = 64,
        keep_white: bool = False,
        reader_channels: int = 0,
        reader_blur: bool = False,
    ):
        super().__init__()
        self.set_names, self.set_titles = list(set_names), list(set_titles or set_names)
        self.resolution, self.keep_white = resolution, keep_white
        sets, c = len(set_names), channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 7, 1, 3, padding_mode="reflect"), nn.InstanceNorm2d(c, affine=True), nn.ReLU()
        )
        self.down = nn.Sequential(_down(c, 2 * c), _down(2 * c, 4 * c))
        self.blocks = nn.ModuleList(StyledBlock(4 * c, sets) for _ in range(blocks))
        self.up = nn.Sequential(_up(4 * c, 2 * c), _up(2 * c, c))
        self.head = nn.Conv2d(c, 3, 7, 1, 3, padding_mode="reflect")
        # the critic's set classifier, shipped beside the generator to name an image's own set (SetReader)
        self.reader = SetReader(sets, reader_channels, reader_blur) if reader_channels else None

    def style(self, sets: torch.Tensor) -> torch.Tensor:
        """Set indices [N] -> one-hot style rows [N, sets]."""
        return F.one_hot(sets, len(self.set_names)).to(self.head.weight.dtype)

    def forward(self, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Images [N,3,H,W] in [-1, 1] (H, W multiples of 4), style [N, sets] (rows of weights) or set
        indices [N] -> the images drawn in that style (about [-1, 1]; not clamped, so training keeps gradients)."""
        if style.dim() == 1:
            style = self.style(style)
        h = self.down(self.stem(images))
        for block in self.blocks:
            h = block(h, style)
        # the input plus a learned change: what the set does not draw differently needs no work
        change = self.head(self.up(h))
        return images + (change * footprint(images) if self.keep_white else change)


def blur(x: torch.Tensor) -> torch.Tensor:
    """A fixed [1, 2, 1] blur (each direction) of every channel. Before a stride-2 convolution: without
    it, the convolution samples every other pixel, so a stripe pattern one pixel wide aliases into a
    coarse signal the discriminator reads, and a generator can steer it with such stripes (the
    anti-aliasing of Zhang 2019, as StyleGAN2's discriminator blurs before it downsamples)."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    kernel = (k[:, None] * k[None] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel, groups=x.shape[1])


def critic_body(channels: int, norm=lambda layer: layer) -> nn.Sequential:
    """The critic's convolutions: 64 px -> 8 px, 4 * channels deep (`norm`: spectral norm while training)."""
    c = channels
    return nn.Sequential(
        norm(nn.Conv2d(3, c, 4, 2, 1)),
        nn.LeakyReLU(0.2),
        norm(nn.Conv2d(c, 2 * c, 4, 2, 1)),
        nn.LeakyReLU(0.2),
        norm(nn.Conv2d(2 * c, 4 * c, 4, 2, 1)),
        nn.LeakyReLU(0.2),
        norm(nn.Conv2d(4 * c, 4 * c, 3, 1, 1)),
        nn.LeakyReLU(0.2),
    )


class SetReader(nn.Module):
    """Names the set an image is drawn in: the critic's convolutions and its set classifier, as they
    stood when the translator was exported (spectral norm folded into the weights, the fake class
    left out). Trained on every image of every set for as long as the translator, it reads held-out
    art's set far better than "the set whose redrawing changes it least" (README)."""

    def __init__(self, sets: int, channels: int = 32, blur: bool = False, classes: int | None = None, norm=None):
        super().__init__()
        self.sets, self.blur = sets, blur
        self.body = critic_body(channels, norm or (lambda layer: layer))
        self.classifier = nn.Linear(4 * channels, classes or sets)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        for layer in self.body:
            if self.blur and getattr(layer, "stride", None) == (2, 2):
                x = blur(x)
            x = layer(x)
        return x

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N,3,64,64] in [-1, 1] -> logits over the sets [N, sets] (then "a translation", in a critic
        with the fake class)."""
        return self.classifier(self.features(images).mean((2, 3)))

    @torch.no_grad()
    def reader(self) -> SetReader:
        """A plain copy that names the sets alone, for the export: spectral norm (if any) folded into the
        weights, a fake class (if any) left out."""
        reader = SetReader(self.sets, self.classifier.in_features // 4, self.blur)
        training = self.training
        self.eval()  # in eval mode, reading a spectral-normed weight runs no power iteration
        for mine, theirs in zip(reader.body, self.body, strict=True):
            if isinstance(mine, nn.Conv2d):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        reader.classifier.weight.copy_(self.classifier.weight[: self.sets])
        reader.classifier.bias.copy_(self.classifier.bias[: self.sets])
        self.train(training)
        return reader


class SetDiscriminator(SetReader):
    """PatchGAN with one real/fake map per art set; `forward(images, sets)` reads each image's own set's
    map. `classify(images)` names the set an image is drawn in (StarGAN's auxiliary classifier: trained
    on real art, it tells the generator which way the target set lies). With `fake_class`, the
    classifier has one more class, "a translation", which it learns for translations, so the
    generator cannot satisfy it with cues that real art of the set lacks (the semi-supervised GAN's
    K + 1 classes, Salimans et al. 2016). With `blur`, each stride-2 convolution reads a blurred
    input (`blur`; it has no weights, so a critic trained without it loads)."""

    def __init__(self, sets: int, channels: int = 32, fake_class: bool = False, blur: bool = False):
        super().__init__(sets, channels, blur, classes=sets + fake_class, norm=spectral_norm)
        self.fake_class = fake_class
        self.maps = spectral_norm(nn.Conv2d(4 * channels, sets, 3, 1, 1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # a critic trained without the fake class gains it: its row starts at zero (no opinion yet)
        for name in ("weight", "bias"):
            key, own = prefix + "classifier." + name, getattr(self.classifier, name)
            if key in state_dict and len(state_dict[key]) == len(own) - 1:
                state_dict[key] = torch.cat([state_dict[key], torch.zeros_like(own[:1])])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, images: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
        return self.judge(images, sets)[0]

    def judge(self, images: torch.Tensor, sets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(each image's real/fake map for its own set [N, h, w], the classifier's logits): both heads
        from one pass of the convolutions, which a training step needs for every image it shows."""
        features = self.features(images)
        maps = self.maps(features)  # [N, sets, h, w]
        return maps[torch.arange(len(sets), device=maps.device), sets], self.classifier(features.mean((2, 3)))
