"""Train the DCGAN-family GAN on the emoji set, or on any folder of images.

    python -m training.train_gan                                  # emoji train split, 64x64, resumes
    python -m training.train_gan --steps 20000 --minutes 90       # longer, with a wall-clock budget
    python -m training.train_gan --data ~/my-art --name my-gan    # your own images (any sizes/formats)
    python -m training.train_gan --loss wgan-gp                   # WGAN-GP instead of hinge
    python -m training.train_gan --conditional --name emoji-conditional   # by category and style (or subfolders)
    python -m training.train_gan --steps 30000 --lr-decay         # a last stretch: learning rates fall to 0
    python -m training.train_gan --export-only                    # write checkpoints/<name> from the run
    python -m training.train_gan --ada-target 0.6                 # DiffAugment only as much as D over-fits
    python -m training.train_gan --init-from checkpoints/emoji-gan --data ~/my-art   # fine-tune an export
    python -m training.train_gan --conditional --subjects 8       # + subjects: like emoji, drawn from the seed
    python -m training.train_gan --arch style --name emoji-stylegan --resolution 32   # StyleGAN-family generator
    python -m training.train_gan --feature-critic 1               # + a critic on frozen VAE features

Small-data recipe: spectral norm in D, hinge loss, DiffAugment (colour, translation, cutout)
on real and fake images, an exponential moving average of G's weights for sampling.
The exported checkpoint (EMA generator, fp16 safetensors) appears in the GAN tab's dropdown.

--arch style trains engines/nets/style.py's StyleGAN-family generator against the same
discriminator: a mapping network to w, modulated convolutions, style-mixing regularisation and the
running mean of w that truncation pulls towards.

A run keeps a compact state in the repository too (training/resume/<name>.pt: fp16 weights of
G, its EMA and D, with w̄ in G's buffers; the step and the run's history) so that a run longer than
a session resumes on a new machine (a run given --run-dir keeps it there); delete it once the model ships.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engines.base import pil_batch
from engines.imaging import center_square, image_grid, load_image
from engines.labels import draw_nested
from engines.nets.gan import Discriminator, Generator, diff_augment
from engines.nets.style import StyleGenerator
from engines.runtime import seeded_noise
from training.feature_critic import FeatureCritic, vae_encoder
from training.run_state import card_command, choose_device, load_compact, load_run, next_segment, save_compact, save_run
from training.subjects import group_subjects

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
RESOLUTION = 64
Z_DIM = 128
BATCH_SIZE = 64
LR_G, LR_D = 2e-4, 2e-4
BETAS = (0.0, 0.99)  # beta1 = 0 is the usual choice for spectrally normalised GANs
EMA_DECAY = 0.999
EMA_START = 500  # before this, the EMA simply copies G (early weights are noise)
DIFFAUG = "color,translation,cutout"
SAMPLE_EVERY = 500
CHECKPOINT_EVERY = 250
GP_WEIGHT = 10.0  # WGAN-GP only
# LeCam regularisation (Tseng et al. 2021, against a discriminator that memorises a small set): its
# anchors are moving means of D's scores on real and generated images, with this decay
LECAM_DECAY = 0.99
SAMPLE_SEEDS = 64  # the fixed grid: seeds 0..63
NEW_LABELS_LR_SCALE = 10.0  # --init-from: how much faster label tables the export lacks learn
LABEL_DROP = 0.2  # conditional: how often each label is replaced by "any" (so "any" can be asked for)
# Adaptive augmentation (Karras et al. 2020, "ADA"): every ADA_INTERVAL steps, p moves by
# batch * ADA_INTERVAL / (ADA_KIMG * 1000) towards keeping D's mean sign on real images at the target.
# The paper's 500 kimg suits runs of tens of millions of images; ours are a few million.
ADA_INTERVAL = 4
ADA_KIMG = 100
# --arch style (StyleGAN2's choices, scaled to this set): w as wide as z; its weights are equalised, so Adam's
# step is relative to unit-variance weights and StyleGAN2's 2e-3 is the rate (D keeps LR_D, as for the DCGAN).
W_DIM = 128
MAPPING_LAYERS = 4  # StyleGAN's 8 for faces, StyleGAN2-ADA's 2 for CIFAR-10
STYLE_LR_G = 2e-3
STYLE_MIXING = 0.9  # how often a fake takes two ws, switching at a random layer (mixing regularisation)
W_AVG_BETA = 0.995  # w̄ follows the batches' mean w with this decay per step
# --path-length (StyleGAN2's path length regularisation): lazily, every PATH_LENGTH_INTERVAL steps on half
# the batch with the weight times the interval; its target follows the lengths with this rate per use
PATH_LENGTH_INTERVAL = 4
PATH_LENGTH_DECAY = 0.01
# --imle (implicit maximum likelihood estimation's pull): every IMLE_INTERVAL steps each real image of the
# batch picks the nearest of a pool of IMLE_CANDIDATES fakes per real image
IMLE_INTERVAL = 4
IMLE_CANDIDATES = 4
# --feature-critic: the new head learns alone for this many steps before its verdicts reach the generator
# (a head's first, random verdicts would only push a trained generator about)
FEATURE_WARMUP = 500
# ---------------------------------------------------------------------------------------


@dataclass
class TrainingSet:
    images: torch.Tensor  # uint8 [N, 3, H, W]
    labels: torch.Tensor | None = None  # [N, label sets] for a conditional GAN
    label_names: dict[str, list[str]] = field(default_factory=dict)  # label set -> class names
    label_titles: dict[str, list[str]] = field(default_factory=dict)  # the same classes' names for people, if any
    # label sets nested in another and drawn from the seed when sampling (subjects): set -> {"within", "parents"}
    drawn_labels: dict[str, dict] = field(default_factory=dict)
    heldout: TrainingSet | None = None  # images never trained on (the emoji held-out split), for checks


def emoji_images(resolution: int, conditional: bool = False, per_subject: int = 0) -> TrainingSet:
    """The emoji train split, with the held-out split beside it; conditional: labelled by category and style,
    and with per_subject > 0 by subject too (groups of about that many like emoji in each category)."""
    from training import data as emoji_data

    subjects = group_subjects(emoji_data.load(resolution), per_subject) if conditional and per_subject else None
    sets = []
    for split_name in ("train", "heldout"):
        split = emoji_data.load(resolution, split_name)
        images = torch.from_numpy(split["images"]).permute(0, 3, 1, 2).contiguous()
        if not conditional:
            sets.append(TrainingSet(images))
            continue
        labels = torch.from_numpy(np.stack([split["category"], split["style"]], axis=1)).long()
        names = {"category": list(map(str, split["category_names"])), "style": list(map(str, split["style_names"]))}
        titles = {"category": emoji_data.CATEGORY_TITLES, "style": emoji_data.STYLE_TITLES}
        if [names["category"], names["style"]] != [emoji_data.CATEGORIES, emoji_data.STYLES]:
            titles = {}  # a data file from another version of the class lists: its names alone
        drawn = {}
        if subjects:
            subject = torch.tensor([subjects.of_emoji[str(h)] for h in split["hexcode"]])
            labels = torch.cat([labels, subject[:, None]], dim=1)
            names["subject"] = subjects.names
            titles = titles and titles | {"subject": subjects.titles}
            drawn = {"subject": {"within": "category", "parents": subjects.category}}
        sets.append(TrainingSet(images, labels, names, titles, drawn))
    train, heldout = sets
    train.heldout = heldout
    return train


def folder_images(folder: Path, resolution: int, conditional: bool = False) -> TrainingSet:
    """Every readable image under a folder, centre-cropped and resized; unreadable files are counted.
    Conditional: each first-level subfolder is a class."""
    arrays, classes, skipped = [], [], 0
    class_names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if conditional else []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if conditional and path.parent == folder:
            skipped += 1  # a conditional set needs every image in a class folder
            continue
        try:
            arrays.append(np.asarray(center_square(load_image(path), resolution)))
        except Exception:
            skipped += 1
            continue
        if conditional:
            classes.append(class_names.index(path.relative_to(folder).parts[0]))
    if not arrays:
        raise SystemExit(f"no readable images in {folder} ({skipped} files skipped)")
    print(f"{folder}: {len(arrays)} images, {skipped} files skipped")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    if not conditional:
        return TrainingSet(images)
    return TrainingSet(images, torch.tensor(classes)[:, None], {"class": class_names})


def balanced_indices(labels: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Image indices with the first label set's classes drawn uniformly (classes are unbalanced:
    people and symbols outnumber flags), then an image uniformly within the class."""
    groups = [torch.nonzero(labels[:, 0] == c).squeeze(1) for c in labels[:, 0].unique().tolist()]
    picks = torch.randint(len(groups), (count,), generator=generator).tolist()
    return torch.stack([groups[g][torch.randint(len(groups[g]), (1,), generator=generator)[0]] for g in picks])


def adapt_augment_p(p: float, real_sign: float, target: float, images: int) -> float:
    """ADA's controller. real_sign is the mean sign of D's scores on (augmented) real images: near
    1 when D calls every training image real, the mark of having memorised them (held-out real
    images then score as fake). Above the target p rises, below it falls, by images / ADA_KIMG
    thousand, within [0, 1]."""
    direction = (real_sign > target) - (real_sign < target)
    return min(1.0, max(0.0, p + direction * images / (ADA_KIMG * 1000)))


def drop_labels(labels: torch.Tensor, sizes: list[int], generator: torch.Generator) -> torch.Tensor:
    """Replace each label by its "any" index (= the set's size) with probability LABEL_DROP."""
    drop = torch.rand(labels.shape, generator=generator) < LABEL_DROP
    return torch.where(drop, torch.tensor(sizes)[None], labels)


@torch.no_grad()
def sample_grid(generator: Generator, device: torch.device, count: int = SAMPLE_SEEDS) -> Image.Image:
    """Seeds 0..count-1 through the engine's seed contract (row i from seed i), 8 per row."""
    generator.eval()
    z = seeded_noise((count, generator.z_dim), seed=0, device=device)
    return image_grid(pil_batch(generator(z)), 8)


@torch.no_grad()
def class_grid(
    generator: Generator, device: torch.device, label_set: int, seeds: int = 8, drawn: dict | None = None
) -> Image.Image:
    """One row per class of one label set (the others "any"), the same seeds 0..seeds-1 in every row.
    drawn: label set index -> (parent set index, parent of each class), drawn from the seed as the studio does."""
    generator.eval()
    sizes, drawn = generator.label_sizes, drawn or {}
    z = seeded_noise((seeds, generator.z_dim), seed=0, device=device)
    rows = []
    for c in range(sizes[label_set]):
        labels = torch.tensor(sizes).repeat(seeds, 1)
        labels[:, label_set] = c
        for k, (parent, parents) in drawn.items():
            labels[:, k] = torch.tensor(
                [draw_nested(parents, int(row[parent]), sizes[parent], s) for s, row in enumerate(labels)]
            )
        rows += pil_batch(generator(z, labels.to(device)))
    return image_grid(rows, seeds)


@torch.no_grad()
def mixing_grid(generator: StyleGenerator, rows: int = 6, columns: int = 6) -> Image.Image:
    """StyleGAN's figure: the corner blank, seeds 0..rows-1 down the side (their coarse styles), seeds
    rows..rows+columns-1 along the top (their fine styles), each cell the one mixed at 16 px."""
    generator.eval()
    device = next(generator.parameters()).device
    w = generator.mapping(seeded_noise((rows + columns, generator.z_dim), seed=0, device=device))
    crossover = generator.layer_sizes().index(16)
    cells = [torch.ones(3, generator.resolution, generator.resolution, device=device)]
    cells += [generator.synthesis(w[rows + c, None, None].expand(1, generator.num_ws, -1))[0] for c in range(columns)]
    for r in range(rows):
        cells.append(generator.synthesis(w[r, None, None].expand(1, generator.num_ws, -1))[0])
        cells += list(generator.synthesis(generator.mix(w[r].expand(columns, -1), w[rows:], crossover)))
    return image_grid(pil_batch(torch.stack(cells)), columns + 1)


def grids(generator: Generator, device: torch.device, data: TrainingSet | None = None) -> dict[str, Image.Image]:
    """file name -> grid: the seed grid, or for a conditional GAN one grid per picked label set (a drawn
    one, the subjects, is drawn in every row as the studio draws it)."""
    if not generator.label_sizes:
        return {"samples.png": sample_grid(generator, device)}
    sets = list(data.label_names) if data else []
    drawn = {
        sets.index(name): (sets.index(entry["within"]), entry["parents"])
        for name, entry in (data.drawn_labels if data else {}).items()
    }
    picked = [k for k in range(len(generator.label_sizes)) if k not in drawn]
    return {f"samples-{k}.png": class_grid(generator, device, k, drawn=drawn) for k in picked}


@torch.no_grad()
def discriminator_signs(
    discriminator: Discriminator, generator: Generator, data: TrainingSet, device: torch.device, count: int = 1024
) -> dict[str, float]:
    """The mean sign of D's score (+1: called real) on up to `count` training images, on the held-out
    images (when the set has them) and on as many generated ones, none augmented. Training images near
    +1 with held-out ones far below is a discriminator that has memorised its training set (Karras et
    al. 2020): more steps then make G worse, and augmentation (--ada-target) is the remedy."""

    def mean_sign(images: torch.Tensor, labels: torch.Tensor | None) -> float:
        scores = [
            discriminator(images[i : i + 256].to(device), None if labels is None else labels[i : i + 256].to(device))
            for i in range(0, len(images), 256)
        ]
        return round(torch.cat(scores).sign().mean().item(), 3)

    def scaled(images: torch.Tensor) -> torch.Tensor:
        return images.float().div(127.5).sub(1)

    was_training = discriminator.training
    discriminator.eval()  # spectral norm's power iteration must not move on these checks
    pick = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(0))[:count]
    labels = None if data.labels is None else data.labels[pick]
    signs = {"training images": mean_sign(scaled(data.images[pick]), labels)}
    if data.heldout is not None:
        signs["held-out images"] = mean_sign(scaled(data.heldout.images), data.heldout.labels)
    z = seeded_noise((len(pick), generator.z_dim), seed=0, device=device)
    fakes = []
    for i in range(0, len(z), 256):
        fakes.append(
            generator(z[i : i + 256]) if labels is None else generator(z[i : i + 256], labels[i : i + 256].to(device))
        )
    signs["generated"] = mean_sign(torch.cat(fakes), labels)
    discriminator.train(was_training)
    return signs


def draw_fakes(
    generator: Generator | StyleGenerator, z: torch.Tensor, labels: torch.Tensor | None, mixing: float = STYLE_MIXING
) -> torch.Tensor:
    """G's images for a batch of latents. A style generator's with mixing regularisation (for a
    `mixing` share of the batch, a second latent's w takes over from a random layer on), and w̄ moved
    towards the batch's mean w."""
    if not isinstance(generator, StyleGenerator):
        return generator(z, labels)
    n, layers = len(z), generator.num_ws
    w = generator.mapping(torch.cat([z, torch.randn_like(z)]))
    crossover = torch.randint(1, layers, (n,), device=z.device)
    crossover = torch.where(torch.rand(n, device=z.device) < mixing, crossover, layers)
    with torch.no_grad():
        generator.w_avg.lerp_(w[:n].mean(0), 1 - W_AVG_BETA)
    return generator.synthesis(generator.mix(w[:n], w[n:], crossover))


@torch.no_grad()
def update_ema(ema: Generator, generator: Generator, decay: float) -> None:
    for e, p in zip(ema.parameters(), generator.parameters(), strict=True):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), generator.buffers(), strict=True):  # batch-norm statistics
        e.copy_(b)


def init_generator(generator: Generator, folder: Path) -> None:
    """Copy an exported generator's weights into a new run's generator (fine-tuning); the
    discriminator starts afresh, since exports hold none. The generator starts out drawing what
    the export drew: label sets the export lacks (subjects added to a category-and-style GAN) get
    zero embeddings, which the trained modulations then learn to use; from an unconditional export,
    the modulations themselves start at zero (as in any new conditional GAN) beside fresh embeddings."""
    source = Generator.from_pretrained(folder).float()
    if (source.z_dim, source.resolution) != (generator.z_dim, generator.resolution):
        raise SystemExit(
            f"{folder}: z {source.z_dim}, {source.resolution}px; this run is z {generator.z_dim}, "
            f"{generator.resolution}px"
        )
    if source.label_sizes != generator.label_sizes[: len(source.label_sizes)]:
        raise SystemExit(f"{folder} has labels {source.label_sizes}; this run has {generator.label_sizes}")
    try:
        missing, unexpected = generator.load_state_dict(source.state_dict(), strict=False)
    except RuntimeError as error:  # a different width
        raise SystemExit(f"{folder} does not fit this run (--base-channels?): {str(error).splitlines()[0]}") from None
    new = {f"label_embeddings.{k}.weight" for k in range(len(source.label_sizes), len(generator.label_sizes))}
    if not source.label_sizes:
        new |= {name for name, _ in generator.label_modulations.named_parameters(prefix="label_modulations")}
    if unexpected or set(missing) - new:
        raise SystemExit(f"{folder} does not fit this run: missing {missing}, unexpected {unexpected}")
    if source.label_sizes:  # zero embeddings times zero modulations would never move: only with trained ones
        with torch.no_grad():
            for k in range(len(source.label_sizes), len(generator.label_sizes)):
                generator.label_embeddings[k].weight.zero_()
    print(f"initialised the generator from {folder}")


def gradient_penalty(
    discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(mixed, labels).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def d_loss_fn(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if loss == "nonsat":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    return fake_logits.mean() - real_logits.mean()  # wgan-gp (penalty added by the caller)


def lecam_penalty(real_logits: torch.Tensor, fake_logits: torch.Tensor, anchors: list[float]) -> torch.Tensor:
    """LeCam: real scores are pulled towards the moving mean of fake ones and fake scores towards that
    of real ones, which keeps D's scores from running apart on images it has memorised. `anchors`
    ([real mean, fake mean]; empty at the start of a run, then the first batch's means) moves in place."""
    means = [real_logits.detach().mean().item(), fake_logits.detach().mean().item()]
    if anchors:
        means = [LECAM_DECAY * a + (1 - LECAM_DECAY) * m for a, m in zip(anchors, means, strict=True)]
    anchors[:] = means
    return (real_logits - anchors[1]).pow(2).mean() + (fake_logits - anchors[0]).pow(2).mean()


def consistency_penalty(
    discriminator: Callable, images: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """Balanced consistency regularisation's term (bCR, Zhao et al. 2020): D should score an image and
    the same image shifted by a few pixels alike. Only D learns from it (the images come detached), so,
    unlike DiffAugment, the generator is never asked to draw shifted images; it is a prior against a
    discriminator that memorises exact pixels, applied to real and generated images alike."""
    shifted = discriminator(diff_augment(images.detach(), "translation"), labels)
    return (shifted - logits).pow(2).mean()


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN's (Mao et al. 2019) term against a generator that draws too little variety: the batch's
    halves paired, 1 / (how far apart their images are / how far apart their latents are), which the
    generator lowers by drawing different latents differently."""
    half = len(z) // 2
    images = (fake[:half] - fake[half : 2 * half]).abs().mean()
    latents = (z[:half] - z[half : 2 * half]).abs().mean()
    return 1 / (images / latents + 1e-5)


def path_length_penalty(generator: StyleGenerator, count: int, target: list[float]) -> torch.Tensor:
    """StyleGAN2's path length regularisation (Karras et al. 2020): how much the image moves for a step in w
    (the Jacobian's norm along random image-space directions) is pulled towards its running mean, so no
    region of w draws much the same image while another changes fast. Tried against samples that crowd
    where a step in w changes the image least (README: it evened the step sizes out by calming the fastest
    regions, and the samples did not spread). `target` (empty at first, then the first lengths' mean) moves
    in place."""
    z = torch.randn(count, generator.z_dim, device=generator.const.device)
    ws = generator.mapping(z)[:, None].repeat(1, generator.num_ws, 1)
    images = generator.synthesis(ws)
    noise = torch.randn_like(images) / np.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean = lengths.detach().mean().item()
    target[:] = [target[0] + PATH_LENGTH_DECAY * (mean - target[0]) if target else mean]
    return (lengths - target[0]).square().mean()


def imle_penalty(generator: Generator | StyleGenerator, real: torch.Tensor) -> torch.Tensor:
    """IMLE's term (Li & Malik 2018), against samples that crowd: each real image of the batch finds the
    nearest of a pool of fakes and pulls it towards itself, so art that no sample comes near draws one over,
    which the adversarial loss alone never asks for. Compared at half the resolution (layout and colour;
    detail is the discriminator's), by mean squared difference. Unconditional generators only."""

    def draw(z: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(generator(z), 2).flatten(1)

    target = F.avg_pool2d(real, 2).flatten(1)
    z = torch.randn(IMLE_CANDIDATES * len(real), Z_DIM, device=real.device)
    with torch.no_grad():
        nearest = torch.cdist(target, draw(z)).argmin(1)
    return (draw(z[nearest]) - target).square().mean()


def g_loss_fn(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean() if loss == "nonsat" else -fake_logits.mean()


def export(ema: Generator, out_dir: Path, meta: dict, data: TrainingSet | None = None) -> None:
    """EMA generator as fp16 safetensors + config, and atelier.json so the registry lists it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copy.deepcopy(ema).half().save_pretrained(out_dir)
    label_names, label_titles = meta.pop("label_names"), meta.pop("label_titles", {})
    drawn_labels = meta.pop("drawn_labels", {})
    settings = {"task": "conditional" if label_names else "gan", "title": meta.pop("title")}
    settings |= {"resolution": ema.resolution, "z_dim": ema.z_dim}
    if isinstance(ema, StyleGenerator):
        settings |= {"arch": "style", "layers": ema.layer_sizes()}  # which class loads it; what mixing can switch
    if label_names:
        settings["labels"] = label_names  # label set -> class names, in index order ("any" is index len(names))
    if label_titles:
        settings["label_titles"] = label_titles  # what the studio's pickers and captions show
    if drawn_labels:
        settings["drawn_labels"] = drawn_labels  # e.g. subjects: drawn from each image's seed within its category
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    files = grids(ema.float(), next(ema.parameters()).device, data)
    for name, grid in files.items():
        grid.save(out_dir / name)
    captions = {"seeds 0–63, ψ = 1": "samples.png"}
    if label_names:
        captions = {
            f"one row per {label_set} ({', '.join(label_titles.get(label_set, names))}; other labels 'any'"
            f"{', the subject drawn from each seed' if drawn_labels else ''}), seeds 0–7 in every row": name
            for (label_set, names), name in zip(
                ((k, v) for k, v in label_names.items() if k not in drawn_labels), files, strict=True
            )
        }
    if isinstance(ema, StyleGenerator):
        mixing_grid(ema).save(out_dir / "mixing.png")
        captions["style mixing, ψ = 1: rows seeds 0–5 give the coarse styles (4–8 px layers), columns seeds 6–11 "
                 "the fine ones (16 px up); the first row and column are the seeds alone"] = "mixing.png"  # fmt: skip
    write_gan_card(out_dir, settings["title"], meta, sum(p.numel() for p in ema.parameters()), captions)
    print(f"exported to {out_dir}")


def style_details(mapping_layers: int) -> str:
    """The card's account of the StyleGAN-family networks and their training (`mapping_layers`: a run's choice)."""
    return (
        f"Generator (engines/nets/style.py): a {mapping_layers}-layer mapping network (z → w, {W_DIM}-d, learning rate "
        "×0.01), a "
        "learned 4×4 constant, then two modulated and demodulated 3×3 convolutions per resolution (the first "
        "upsampling), each driven by its own w, RGB summed up from every resolution (StyleGAN2's skip generator), "
        "equalised learning rates, no noise inputs. Style-mixing regularisation: "
        f"{STYLE_MIXING:.0%} of the fakes (unless a run segment says otherwise) switch to a second latent's w at a "
        "random layer. w̄ (truncation's centre) is "
        f"the running mean of w (decay {W_AVG_BETA}). Discriminator: the DCGAN's, convolutions with spectral "
        f"normalisation and LeakyReLU. Adam (β = 0, 0.99), learning rate {STYLE_LR_G} for the generator and "
        f"{LR_D} for the discriminator"
    )


def batch_sizes(meta: dict) -> list[int]:
    """The batch sizes a run trained at, in order, each once per stretch: [64], or [32, 64] where its segments
    changed it (a segment from before runs recorded it is taken to have had the run's last)."""
    sizes: list[int] = []
    for h in [*meta.get("history", []), meta]:
        size = h.get("batch_size") or meta["batch_size"]
        if not sizes or sizes[-1] != size:
            sizes.append(size)
    return sizes


def write_gan_card(out_dir: Path, title: str, meta: dict, parameters: int, grids: dict[str, str]) -> None:
    from training.model_card import history_figures, write_card

    on_emoji, family = meta["data"] == "emoji train split", "StyleGAN" if meta.get("arch") == "style" else "DCGAN"
    sets = meta["label_sets"]
    batches = batch_sizes(meta)  # more than one: each segment says its own
    conditioned = " and ".join([", ".join(sets[:-1]), sets[-1]] if len(sets) > 2 else sets)  # a, b and c
    write_card(
        out_dir,
        title=title,
        summary=(
            f"A {family}-family generator ({parameters / 1e6:.1f}M parameters, "
            f"{meta['resolution']}×{meta['resolution']} RGB) trained on "
            f"{'the pooled emoji train split (all four styles)' if on_emoji else meta['data']}"
            f"{', conditioned on ' + conditioned if conditioned else ''}. "
            "Shipped as the exponential moving average of the generator's weights, fp16 safetensors. "
            "Grids at ψ = 1 (no truncation)."
        ),
        figures={
            "training": f"{meta['steps']} steps × batch {', then '.join(map(str, batches))}, {meta['train_minutes']} "
            f"min on {meta['device']}",
            "loss": meta["loss"],
            **(
                {
                    "discriminator's mean sign (+1: called real)": ", ".join(
                        f"{name} {sign:+.2f}" for name, sign in meta["discriminator_signs"].items()
                    )
                }
                if meta.get("discriminator_signs")
                else {}
            ),
            "DiffAugment": (meta["diffaug"] or "off")
            + (
                f", each op applied with an adaptive probability (target {meta['ada_target']}; "
                f"p = {meta['augment_p']:.3f} at the end)"
                if meta.get("ada_target")
                else ""
            ),
            **history_figures(
                meta.get("history", []),
                lambda h: (
                    f"loss {h['loss']}, DiffAugment {h['diffaug'] or 'off'}"
                    + (f", batch {h.get('batch_size') or meta['batch_size']}" if len(batches) > 1 else "")
                    + (", learning rates decayed linearly to 0" if h.get("lr_decay") else "")
                    + (f", LeCam regularisation (weight {h['lecam']:g})" if h.get("lecam") else "")
                    + (f", MSGAN's mode-seeking term (weight {h['mode_seeking']:g})" if h.get("mode_seeking") else "")
                    + (
                        f", the discriminator's learning rate {h['discriminator_lr']:g}"
                        if h.get("discriminator_lr", LR_D) != LR_D
                        else ""
                    )
                    + (f", path length regularisation (weight {h['path_length']:g})" if h.get("path_length") else "")
                    + (f", consistency regularisation (weight {h['consistency']:g})" if h.get("consistency") else "")
                    + (f", IMLE's pull (weight {h['imle']:g})" if h.get("imle") else "")
                    + (
                        f", a second critic on the VAE encoder's features (weight {h['feature_critic']:g})"
                        if h.get("feature_critic")
                        else ""
                    )
                    + (f", EMA decay {h['ema_decay']:g}" if h.get("ema_decay", EMA_DECAY) != EMA_DECAY else "")
                    + (
                        f", the discriminator at base width {h['discriminator_channels']}"
                        if h.get("discriminator_channels", meta.get("base_channels")) != meta.get("base_channels")
                        else ""
                    )
                    + (
                        f", minibatch standard deviation over groups of {h['minibatch_group']}"
                        if meta.get("minibatch_std") and h.get("minibatch_group", 4) != 4
                        else ""
                    )
                    + (
                        f", style mixing for {h['style_mixing']:.0%} of the fakes"
                        if meta.get("arch") == "style" and h.get("style_mixing", STYLE_MIXING) != STYLE_MIXING
                        else ""
                    )
                    + (
                        f", adaptive augmentation (target {h['ada_target']}, p = {h['augment_p']:.3f} at the end)"
                        if h.get("ada_target")
                        else ""
                    )
                ),
            ),
            "training images": str(meta["images"]),
            "quality": "see Quality (python -m benchmarks.quality --update-cards)",
        },
        command=meta["command"],
        grids=grids,
        details=(
            (
                style_details(meta.get("mapping_layers", MAPPING_LAYERS))
                if meta.get("arch") == "style"
                else "Generator: transposed convolutions with batch norm and ReLU, tanh output. Discriminator: "
                "convolutions with spectral normalisation and LeakyReLU. Adam (β = 0, 0.99), learning rate 2e-4 for "
                "both"
            )
            + (
                " (falling linearly to 0 over the stretch run with --lr-decay)"
                if any(h.get("lr_decay") for h in meta.get("history", []))
                else ""
            )
            + f", EMA decay {EMA_DECAY} (unless a run segment says otherwise), random horizontal flips"
            + (
                ", the discriminator's last layer also reading the minibatch standard deviation (groups of 4 unless "
                "a run segment says otherwise)"
                if meta.get("minibatch_std")
                else ""
            )
            + (
                f", DiffAugment ({meta['diffaug']}) on real and generated images before the discriminator"
                if meta["diffaug"]
                else ""
            )
            + ". "
            + (
                "Labels: class-balanced batches; each label dropped to 'any' 20% of the time; conditional batch norm "
                "in the generator (a label-dependent gain and bias per batch norm), a projection discriminator. "
                if meta["label_sets"]
                else ""
            )
            + (
                f"Subjects: the emoji of each category grouped by their captions' MiniLM embeddings into "
                f"{meta['subject_groups']} sets of about {meta['subjects']} like things (training/subjects.py); "
                "the studio draws one from each image's seed among the subjects of the category asked for. "
                if meta.get("subjects")
                else ""
            )
            + (
                f"The run started from the generator exported in {meta['init_from']} (its weights, not its "
                "discriminator, which started afresh). "
                if meta.get("init_from")
                else ""
            )
            + meta.get("note", "")
        ),
        license="mit" if on_emoji else "other",
        tags=("gan", family.lower(), "emoji" if on_emoji else "custom-data"),
        emoji_data=on_emoji,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a folder of images (default: the emoji set)")
    parser.add_argument("--name", default="emoji-gan", help="the model's name: runs/<name>, checkpoints/<name>")
    parser.add_argument("--resolution", type=int, default=RESOLUTION)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--loss", choices=["hinge", "nonsat", "wgan-gp"], default="hinge")
    parser.add_argument("--diffaug", default=DIFFAUG, help="DiffAugment policy; '' turns it off")
    parser.add_argument(
        "--lr-decay",
        action="store_true",
        help="learning rates fall linearly to 0 at --steps, from the step this (resumed) run starts at",
    )
    parser.add_argument(
        "--ada-target",
        type=float,
        default=None,
        help="adaptive augmentation: apply each --diffaug op with a probability p that starts at 0 and rises while "
        "the discriminator's mean sign on real images (+1 called real, -1 fake) is above this (0.6 in the ADA paper)",
    )
    parser.add_argument(
        "--mode-seeking",
        type=float,
        default=0.0,
        help="the weight of MSGAN's mode-seeking term (0: off; 1 in its paper): the generator is pushed to draw "
        "different latents differently, for recall (a resumed run may change it)",
    )
    parser.add_argument(
        "--lecam",
        type=float,
        default=0.0,
        help="LeCam regularisation's weight (0: off; 0.3 in its paper for a hinge-loss BigGAN): against a "
        "discriminator that memorises the training set",
    )
    parser.add_argument(
        "--consistency",
        type=float,
        default=0.0,
        help="balanced consistency regularisation's weight (0: off; 10 in its paper): D scores each real and "
        "generated image as it scores the image shifted a few pixels, which the generator never sees",
    )
    parser.add_argument(
        "--discriminator-lr",
        type=float,
        default=LR_D,
        help="the discriminator's learning rate; a slower one memorises the training set more slowly",
    )
    parser.add_argument(
        "--path-length",
        type=float,
        default=0.0,
        help="--arch style: path length regularisation's weight (0: off; StyleGAN2's 2): every step in w moves "
        "the image about as far, against regions of w that all draw much the same image",
    )
    parser.add_argument(
        "--imle",
        type=float,
        default=0.0,
        help="the weight of IMLE's pull (0: off): each real image pulls the nearest of several fakes towards "
        "itself, against samples that crowd and leave art unreached (a resumed run may change it)",
    )
    parser.add_argument(
        "--feature-critic",
        type=float,
        default=0.0,
        help="the weight of a second discriminator's verdict (0: off): a head on the bundled VAE encoder's "
        "frozen features (training/feature_critic.py), which cannot memorise the set as one on pixels does; "
        "a resumed run may add it",
    )
    parser.add_argument(
        "--mapping-layers",
        type=int,
        default=MAPPING_LAYERS,
        help="--arch style: the mapping network's depth (z → w); a run keeps it",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=EMA_DECAY,
        help="the EMA generator's decay per step (the exported one); longer averages draw more variety here "
        "(StyleGAN2-ADA's CIFAR-10 setting is a half-life of 500k images: 0.99996 at batch 32)",
    )
    parser.add_argument(
        "--style-mixing",
        type=float,
        default=STYLE_MIXING,
        help="--arch style: the share of fakes drawn from two ws, switching at a random layer (mixing "
        "regularisation; StyleGAN2-ADA turns it off for CIFAR-10's 32 px)",
    )
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument(
        "--discriminator-channels", type=int, default=None, help="the discriminator's base width (default: G's)"
    )
    parser.add_argument(
        "--new-discriminator",
        action="store_true",
        help="resuming from the compact state, keep the generator (its EMA, w̄) but start the discriminator afresh, "
        "e.g. at another --discriminator-channels: one that has memorised the training set forgets it",
    )
    parser.add_argument(
        "--discriminator-warmup",
        type=int,
        default=0,
        help="with --new-discriminator: for this many steps from the compact state only the discriminator trains, "
        "the generator held still, so that a new discriminator's first, random verdicts cannot undo the generator "
        "(a run resumed from its own folder has its discriminator: it warms up no more)",
    )
    parser.add_argument(
        "--minibatch-std",
        action="store_true",
        help="the discriminator also sees how much the images of each group of 4 differ (ProGAN/StyleGAN's "
        "minibatch standard deviation), against a generator that draws too little variety; a run keeps it",
    )
    parser.add_argument(
        "--minibatch-group",
        type=int,
        default=4,
        help="--minibatch-std: how many images each spread is taken over (StyleGAN2-ADA: 4, 32 for CIFAR-10); "
        "it has no weights, so a resumed run may change it",
    )
    parser.add_argument(
        "--arch",
        choices=["dcgan", "style"],
        default="dcgan",
        help="the generator: DCGAN (engines/nets/gan.py) or StyleGAN-family (engines/nets/style.py, unconditional)",
    )
    parser.add_argument(
        "--resume-state",
        type=Path,
        default=None,
        help="the compact state kept for a new machine; default: training/resume/<name>.pt, or with --run-dir "
        "<run-dir>/compact.pt",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="a new run starts from this exported generator (e.g. checkpoints/emoji-conditional) instead of noise; "
        "label sets it lacks start at zero, so the first step draws what it drew",
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/<name>")
    parser.add_argument("--out", type=Path, default=None, help="the export folder; default: checkpoints/<name>")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--card-note", default="", help="a paragraph for the model card (e.g. why this size)")
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional: emoji by category and style; a folder by its subfolders",
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=0,
        metavar="N",
        help="with --conditional on the emoji set: also condition on subjects, groups of about N like emoji within "
        "each category (training/subjects.py), drawn from the seed when sampling; 0: off",
    )
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.diffaug.split(","))) - {"color", "translation", "cutout"}
    if unknown:
        parser.error(f"unknown --diffaug op(s) {', '.join(sorted(unknown))}; known: color, translation, cutout")
    if args.ada_target is not None and not (0 < args.ada_target < 1 and args.diffaug and args.loss != "wgan-gp"):
        parser.error("--ada-target needs a value between 0 and 1, a --diffaug policy and --loss hinge or nonsat")
    if args.minibatch_group < 2 or args.batch_size % args.minibatch_group:
        parser.error("--minibatch-group needs 2 or more images, a divisor of --batch-size")
    if args.discriminator_warmup and not (args.new_discriminator and args.discriminator_warmup > 0):
        parser.error("--discriminator-warmup is a number of steps for a --new-discriminator")
    if not 0 <= args.style_mixing <= 1:
        parser.error("--style-mixing is a share of the fakes: from 0 to 1")
    if args.discriminator_lr <= 0:
        parser.error("--discriminator-lr is a learning rate above 0")
    if args.path_length < 0 or (args.path_length and args.arch != "style"):
        parser.error("--path-length is a weight of 0 or more for an --arch style generator")
    if args.imle < 0 or (args.imle and args.conditional):
        parser.error("--imle is a weight of 0 or more, for an unconditional generator")
    if args.feature_critic < 0 or (args.feature_critic and args.loss == "wgan-gp"):
        parser.error("--feature-critic is a weight of 0 or more, with --loss hinge or nonsat")
    if args.mapping_layers < 1:
        parser.error("--mapping-layers needs at least one layer")
    if not 0 <= args.ema_decay < 1:
        parser.error("--ema-decay is a decay per step: from 0 up to (not including) 1")
    if args.init_from and not (args.init_from / "config.json").is_file():
        parser.error(f"--init-from {args.init_from}: no exported generator there (config.json)")
    if args.arch == "style" and (args.conditional or args.init_from):
        parser.error("--arch style trains an unconditional generator from scratch: no --conditional or --init-from")
    if args.subjects and (args.data is not None or not args.conditional):
        parser.error("--subjects groups the emoji set's captions: it needs --conditional and no --data")
    data = (
        emoji_images(args.resolution, args.conditional, args.subjects)
        if args.data is None
        else folder_images(args.data, args.resolution, args.conditional)
    )
    label_sizes = [len(names) for names in data.label_names.values()]

    torch.manual_seed(args.seed)
    device = choose_device()
    run_dir = args.run_dir or ROOT / "runs" / args.name
    out = args.out or ROOT / "checkpoints" / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    # the repository keeps the compact state of its own runs (runs/<name>); a run elsewhere keeps it in its folder
    resume_state = args.resume_state or (
        run_dir / "compact.pt" if args.run_dir else ROOT / "training" / "resume" / f"{args.name}.pt"
    )
    if args.arch == "style":
        mapping = args.mapping_layers
        generator = StyleGenerator(Z_DIM, W_DIM, args.resolution, args.base_channels, mapping_layers=mapping).to(device)
    else:
        generator = Generator(Z_DIM, args.resolution, args.base_channels, label_sizes=label_sizes).to(device)
    d_channels = args.discriminator_channels or args.base_channels
    discriminator = Discriminator(
        args.resolution,
        d_channels,
        label_sizes=label_sizes,
        minibatch_std=args.minibatch_std,
        minibatch_group=args.minibatch_group,
    ).to(device)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    # Label sets an --init-from export lacks start at zero (beside its trained ones), and Adam moves a
    # weight by about its learning rate a step: at LR_G a new table would take tens of thousands of steps
    # to reach the trained tables' scale (about 1 a coordinate), so those tables learn NEW_LABELS_LR_SCALE
    # times faster. (From an unconditional export every table is new and random, as in any new run.)
    source = json.loads((args.init_from / "config.json").read_text()) if args.init_from else {}
    source_sets = len(source.get("label_sizes", []))
    new_tables = set(range(source_sets, len(label_sizes))) if source_sets else set()
    new_params = [
        p
        for k, table in enumerate(getattr(generator, "label_embeddings", []))
        if k in new_tables
        for p in table.parameters()
    ]
    lr_g = STYLE_LR_G if args.arch == "style" else LR_G
    old_params = [p for p in generator.parameters() if all(p is not q for q in new_params)]
    opt_g = torch.optim.Adam(
        [{"params": old_params, "scale": 1.0}]
        + ([{"params": new_params, "scale": NEW_LABELS_LR_SCALE}] if new_params else []),
        lr_g,
        betas=BETAS,
    )
    opt_d = torch.optim.Adam(discriminator.parameters(), args.discriminator_lr, betas=BETAS)
    critic = FeatureCritic(vae_encoder()).to(device) if args.feature_critic else None

    # the training command for the card: an --export-only run records the arguments it was given
    given = list(argv if argv is not None else sys.argv[1:])
    command = card_command("training.train_gan", given, private=("--card-note", "--run-dir", "--out", "--resume-state"))
    parts = {"g": generator, "d": discriminator, "ema": ema, "opt_g": opt_g, "opt_d": opt_d}
    networks = {"g": generator, "d": discriminator, "ema": ema}  # what the compact state keeps
    if critic is not None:
        opt_f = torch.optim.Adam(critic.head.parameters(), args.discriminator_lr, betas=BETAS)
        parts |= {"f": critic, "opt_f": opt_f}
        networks["f"] = critic
    new = frozenset({"f", "opt_f"})  # a run may gain the feature critic when resumed
    step, elapsed, kept, _ = load_run(run_dir, parts, device, new)
    fresh_discriminator = False
    if step == 0 and resume_state.is_file() and not args.init_from:  # a new machine: the state in the repository
        fresh_discriminator = args.new_discriminator
        kept_networks = {k: v for k, v in networks.items() if not (k == "d" and args.new_discriminator)}
        step, elapsed, kept, _ = load_compact(resume_state, kept_networks, device, new)
    if args.init_from and step == 0 and not args.export_only:
        init_generator(generator, args.init_from)
        ema.load_state_dict(generator.state_dict())
    # one entry per run segment: a resumed run may change the loss, augmentation, learning-rate decay or LeCam
    history: list[dict] = json.loads(kept.get("history", "[]"))
    recipe = {"loss": args.loss, "diffaug": args.diffaug, "lr_decay": args.lr_decay, "ada_target": args.ada_target,
              "lecam": args.lecam, "consistency": args.consistency, "mode_seeking": args.mode_seeking,
              "path_length": args.path_length, "imle": args.imle, "discriminator_lr": args.discriminator_lr,
              "batch_size": args.batch_size, "style_mixing": args.style_mixing, "ema_decay": args.ema_decay,
              "minibatch_group": args.minibatch_group, "feature_critic": args.feature_critic,
              "discriminator_channels": d_channels}  # fmt: skip
    # what older runs' segments, which lack a key, are taken to have had (a batch size: unknown, so a new segment)
    before = {k: parser.get_default(k) for k in recipe} | {"discriminator_channels": args.base_channels}
    before["batch_size"] = None
    same_recipe = history and all(history[-1].get(k, before[k]) == v for k, v in recipe.items())
    if not args.export_only:
        next_segment(history, step, recipe, bool(same_recipe))
    # a new discriminator's warm-up: the first steps after the compact state it was started beside
    warm_until = step + args.discriminator_warmup if fresh_discriminator else 0
    # adaptive augmentation resumes at the p its segment reached; a new adaptive segment starts at 0
    if args.ada_target is None:
        augment_p = 1.0
    else:
        augment_p = float(kept["augment_p"]) if same_recipe and "augment_p" in kept else 0.0
    # steps the feature critic has learnt (kept, so a resumed run does not warm it up again; 0 for a new head)
    critic_steps = int(kept.get("critic_steps", 0)) if critic is not None else 0

    def meta() -> dict:
        return {
            "title": f"{'Emoji' if args.data is None else args.data.name} {'conditional ' * args.conditional}GAN, "
            f"{args.resolution}×{args.resolution} "
            f"({'StyleGAN2-style' if args.arch == 'style' else 'DCGAN'} + SN{' + DiffAugment' if args.diffaug else ''}"
            ", EMA)",
            "arch": args.arch,
            "steps": step,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "loss": args.loss,
            "diffaug": args.diffaug,
            "ada_target": args.ada_target,
            "augment_p": augment_p,
            "batch_size": args.batch_size,
            "base_channels": args.base_channels,
            "minibatch_std": args.minibatch_std,
            "mapping_layers": args.mapping_layers if args.arch == "style" else None,
            "resolution": args.resolution,
            "data": str(args.data) if args.data else "emoji train split",
            "images": len(data.images),
            "label_sets": list(data.label_names),
            "label_names": data.label_names,
            "label_titles": data.label_titles,
            "drawn_labels": data.drawn_labels,
            "command": command,
            "history": history,
            "note": args.card_note,
            "subjects": args.subjects,
            "subject_groups": len(data.label_names.get("subject", [])),
            "init_from": str(args.init_from) if args.init_from else None,
        }

    def export_run() -> None:  # the card also records how far the discriminator has over-fitted
        signs = discriminator_signs(discriminator, ema, data, device)
        export(ema, out, meta() | {"discriminator_signs": signs}, data)

    if args.export_only:
        export_run()
        return

    def save() -> None:  # history as a string, so weights_only loading still works
        if args.ada_target is not None:
            history[-1]["augment_p"] = augment_p
        extra = {"history": json.dumps(history), "augment_p": augment_p, "critic_steps": critic_steps}
        save_run(run_dir, parts, step, elapsed, **extra)
        save_compact(resume_state, networks, step, elapsed, extra)

    batch_generator = torch.Generator().manual_seed(args.seed + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc=args.name, dynamic_ncols=True)
    generator.train()
    real_signs = real_sign = 0.0  # ADA: D's mean sign on real images, summed over an interval; the last mean
    lecam_anchors: list[float] = []  # not kept: a resumed run starts them again from its first batch
    path_length_target: list[float] = []  # likewise
    while step < args.steps:
        if data.labels is None:
            idx, labels = torch.randint(len(data.images), (args.batch_size,), generator=batch_generator), None
        else:  # class-balanced; fakes are asked for the same (sometimes "any") labels as the reals
            idx = balanced_indices(data.labels, args.batch_size, batch_generator)
            labels = drop_labels(data.labels[idx], label_sizes, batch_generator).to(device)
        real = data.images[idx].to(device).float().div(127.5).sub(1)
        flip = torch.rand(args.batch_size, generator=batch_generator).to(device) < 0.5
        real = torch.where(flip[:, None, None, None], real.flip(-1), real)
        z = torch.randn(args.batch_size, Z_DIM, device=device)

        # Learning rates are set every step: constant, or with --lr-decay falling linearly from the
        # segment's start to 0 at --steps. (A resumed optimizer's state holds the rate it was saved with.)
        scale = (args.steps - step) / max(1, args.steps - history[-1]["from_step"]) if args.lr_decay else 1.0
        for opt, lr in ((opt_g, lr_g), (opt_d, args.discriminator_lr)):
            for group in opt.param_groups:
                group["lr"] = lr * scale * group.get("scale", 1.0)

        warming = step < warm_until  # the generator held still while a new discriminator learns
        with torch.set_grad_enabled(not warming):
            fake = draw_fakes(generator, z, labels, args.style_mixing)
        real_seen = diff_augment(real, args.diffaug, augment_p)
        fake_seen = diff_augment(fake.detach(), args.diffaug, augment_p)
        real_logits, fake_logits = discriminator(real_seen, labels), discriminator(fake_seen, labels)
        d_loss = d_loss_fn(args.loss, real_logits, fake_logits)
        if args.lecam:
            d_loss = d_loss + args.lecam * lecam_penalty(real_logits, fake_logits, lecam_anchors)
        if args.consistency:
            d_loss = d_loss + args.consistency * (
                consistency_penalty(discriminator, real_seen, real_logits, labels)
                + consistency_penalty(discriminator, fake_seen, fake_logits, labels)
            )
        if args.loss == "wgan-gp":
            d_loss = d_loss + GP_WEIGHT * gradient_penalty(discriminator, real, fake.detach(), labels)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        postfix = {"d": f"{d_loss.item():.3f}"}
        # the feature critic's verdict reaches the generator once its head has learnt alone for FEATURE_WARMUP steps
        heard = critic is not None and critic_steps >= FEATURE_WARMUP
        if critic is not None:  # un-augmented images: the frozen features are what keeps it from memorising
            with torch.no_grad():
                real_features = critic.features(real)
            with torch.set_grad_enabled(heard):  # with its graph only when the generator's loss reads it below
                fake_features = critic.features(fake)
            f_loss = d_loss_fn(args.loss, critic.head_score(real_features), critic.head_score(fake_features.detach()))
            opt_f.zero_grad(set_to_none=True)
            f_loss.backward()
            opt_f.step()
            critic_steps += 1
            postfix["f"] = f"{f_loss.item():.3f}"
        if not warming:
            g_loss = g_loss_fn(args.loss, discriminator(diff_augment(fake, args.diffaug, augment_p), labels))
            if heard:
                g_loss = g_loss + args.feature_critic * g_loss_fn(args.loss, critic.head_score(fake_features))
            if args.mode_seeking:
                g_loss = g_loss + args.mode_seeking * mode_seeking_penalty(fake, z)
            if args.path_length and step % PATH_LENGTH_INTERVAL == 0:
                penalty = path_length_penalty(generator, max(1, len(z) // 2), path_length_target)
                g_loss = g_loss + args.path_length * PATH_LENGTH_INTERVAL * penalty
                postfix["pl"] = f"{path_length_target[0]:.3f}"
            if args.imle and step % IMLE_INTERVAL == 0:
                imle = imle_penalty(generator, real)
                g_loss = g_loss + args.imle * IMLE_INTERVAL * imle
                postfix["imle"] = f"{imle.item():.3f}"
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            update_ema(ema, generator, args.ema_decay if step >= EMA_START else 0.0)
            postfix["g"] = f"{g_loss.item():.3f}"

        step += 1
        history[-1]["to_step"] = step
        elapsed = time.time() - started
        bar.update(1)
        if args.ada_target is not None:
            real_signs += real_logits.detach().sign().mean().item()
            if step % ADA_INTERVAL == 0:
                real_sign, real_signs = real_signs / ADA_INTERVAL, 0.0
                augment_p = adapt_augment_p(augment_p, real_sign, args.ada_target, ADA_INTERVAL * len(real))
            postfix |= {"sign": f"{real_sign:+.2f}", "p": f"{augment_p:.3f}"}
        bar.set_postfix(postfix)
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            next(iter(grids(ema, device, data).values())).save(run_dir / f"samples-{step:06d}.png")
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    next(iter(grids(ema, device, data).values())).save(run_dir / f"samples-{step:06d}.png")
    export_run()


if __name__ == "__main__":
    main()
