"""Train the Restyle translator: redraw an image in another art set, learned without pairs (CycleGAN).

    python -m training.data --size 64
    python -m training.train_restyle --steps 12000 --decay-from 6000   # the four emoji art sets, unpaired; resumes
    python -m training.train_restyle --paired --name emoji-restyle-paired   # the pix2pix reference
    python -m training.train_restyle --data ~/photos ~/paintings --name photo-painting   # your own sets
    python -m training.train_restyle --export-only              # write checkpoints/<name> from the run

One generator draws in every set, told which (StarGAN: the sets share what an emoji is; engines/nets/
restyle.py). Each step takes 32 px crops of images of random sets and a random other set for each,
and trains:
- the discriminator (PatchGAN, spectral norm, one map per set) to tell real art of a set from
  translations into it, on translations from a pool of the last 50 (CycleGAN's image pool), and to
  name real art's set (StarGAN's auxiliary classifier);
- the generator with CycleGAN's losses: least-squares adversarial, cycle consistency (translated
  back to its own set, the image must come back: weight 3) and identity (an image "translated"
  into its own set must not change: weight 0.5), plus StarGAN's: its translations named as the
  target set by the discriminator's classifier (weight 2; --set-weight).
The trainer never sees which images are the same emoji: sets are sampled independently.
`--paired` trains the same generator as pix2pix does instead (L1 to the same emoji as the target
set really draws it, weight 100, plus the adversarial and set losses): the reference the unpaired
model is measured against. `--data A B ...` trains between folders of your own images (one set a
folder, each image centre-cropped to a square and resized to 64 px, as the GAN trainer reads them).

A run that spans sessions keeps a compact state in the repository (training/resume/<name>.pt: fp16
weights of the generator, its EMA and the discriminator, the step and the recipe), written with every
checkpoint; a new machine resumes from it when <run-dir>/last.pt is missing. The export is the EMA
generator (fp16 safetensors), which appears in the Restyle tab.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engines.base import pil_batch
from engines.imaging import image_grid
from engines.metrics import psnr
from engines.nets.restyle import SetDiscriminator, SetReader, Translator
from training import data as emoji_data
from training.run_state import (
    card_command,
    choose_device,
    linear_decay,
    load_compact,
    load_run,
    save_compact,
    save_run,
)

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
RESOLUTION = 64
CHANNELS, BLOCKS = 24, 4
BATCH_SIZE = 8
LEARNING_RATE = 2e-4
BETAS = (0.5, 0.999)  # CycleGAN's
# Light cycle and identity weights (CycleGAN's are 10 and 5): with them, runs on this budget sat at
# "change nothing" (identity 5: 1,000 steps; identity 1 and the set loss: 2,500 steps, cycle 0.007),
# since any change costs 10× its imperfect inversion before the translation is learnt at all.
CYCLE_WEIGHT, IDENTITY_WEIGHT, PAIRED_WEIGHT = 3.0, 0.5, 100.0
# StarGAN's set classification (weight 1 in its paper; 2 here, the strongest pull away from "change
# nothing"): the discriminator learns to name real art's set, the generator to make translations it
# names as the target. Without it, the second run's discriminator never told the sets apart (its
# loss stayed at 0.24, the 0.25 of a coin toss).
SET_WEIGHT = 2.0
WEIGHTS = {"adversarial": 1.0, "set": SET_WEIGHT, "cycle": CYCLE_WEIGHT, "identity": IDENTITY_WEIGHT,
           "l1": PAIRED_WEIGHT}  # fmt: skip
POOL_SIZE = 50
# --set-classifier: the real images it learns from a step, the translator's 8 and more of every set (real art
# costs no generator pass, and at 8 a step a new classifier would take the whole run to name sets well)
NAMING_BATCH = 32
EMA_DECAY = 0.999
NEW_BLOCK_SCALE = 0.01  # --blocks deepening a saved generator: how loud a new block starts (deepen)
CHECKPOINT_EVERY = 250
SAMPLE_EVERY = 1000
CROP = 32  # trained on random 32 px crops of the 64 px art: a quarter of the work a step; the network is
# convolutional, so it translates the whole 64 px image (CycleGAN trains on 256 px crops of 286 px photos
# likewise). Whole images (--crop 64) cost 3.4x a step but get the set recognised more (3,000 steps of
# them took a state at 0.40 to 0.56, README): a crop is often mostly white and names no set.
CHECK_EMOJI = 32  # held-out emoji drawn in every set, for the figures logged while training
# ---------------------------------------------------------------------------------------


@dataclass
class ArtSets:
    images: torch.Tensor  # uint8 [N, 3, H, W]
    sets: torch.Tensor  # [N] set index
    names: list[str]
    titles: list[str]
    emoji: np.ndarray | None = None  # [N] which emoji (the emoji set only): pairs for --paired and the checks


def emoji_sets(split: str, data_dir: Path) -> ArtSets:
    data = emoji_data.load(RESOLUTION, split, data_dir=data_dir)
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).contiguous()
    return ArtSets(images, torch.from_numpy(data["style"]), emoji_data.STYLES, emoji_data.STYLE_TITLES, data["hexcode"])


def folder_sets(folders: list[Path]) -> ArtSets:
    from training.train_gan import folder_images

    images, sets = [], []
    for index, folder in enumerate(folders):
        part = folder_images(folder, RESOLUTION).images
        images.append(part)
        sets.append(torch.full((len(part),), index))
    names = [folder.name for folder in folders]
    if len(set(names)) != len(names):
        raise SystemExit(f"the folders' names name the sets, so they must differ: {names}")
    return ArtSets(torch.cat(images), torch.cat(sets), names, names)


def check_pairs(heldout: ArtSets) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(source index, true-target index, target set) for every ordered pair of sets over CHECK_EMOJI
    held-out emoji that every set draws."""
    where = {(e, int(s)): i for i, (e, s) in enumerate(zip(heldout.emoji, heldout.sets, strict=True))}
    sets = range(len(heldout.names))
    everywhere = sorted(e for e in set(heldout.emoji) if all((e, s) in where for s in sets))
    picked = everywhere[:: max(1, len(everywhere) // CHECK_EMOJI)][:CHECK_EMOJI]
    rows = [(where[e, a], where[e, b], b) for e in picked for a in sets for b in sets if a != b]
    return tuple(torch.tensor(column) for column in zip(*rows, strict=True))


def translate(model: Translator, images: torch.Tensor, targets: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """uint8 images [N,3,H,W] -> translations in [-1, 1], clamped, in eval mode."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = images[i : i + batch].to(device).float().div(127.5).sub(1)
            out.append(model(x, targets[i : i + batch].to(device)).clamp(-1, 1).float().cpu())
    return torch.cat(out)


def evaluate(model: Translator, heldout: ArtSets, pairs) -> dict[str, float]:
    """Held-out PSNR to the true target (the same emoji as the target set draws it): the untouched
    source's and the translation's, over every ordered pair of sets."""
    source, target, sets = pairs
    true = heldout.images[target].float().div(255)
    ours = (translate(model, heldout.images[source], sets) + 1) / 2
    return {
        "PSNR to target, source": round(psnr(heldout.images[source].float().div(255), true).mean().item(), 2),
        "PSNR to target, ours": round(psnr(ours, true).mean().item(), 2),
    }


def sample_grid(model: Translator, data: ArtSets, pairs=None, count: int = 8) -> Image.Image:
    """Emoji set: a row per held-out emoji, each set's real art, then the first set's art in every
    set. Folders: a row per image of each set, then its translation into every set."""
    n = len(data.names)
    if pairs is not None:  # rows: real art in every set · the first set's drawing translated into every set
        emoji = list(dict.fromkeys(data.emoji[pairs[0]].tolist()))[:count]
        cells = []
        for e in emoji:
            where = {int(data.sets[i]): i for i in np.flatnonzero(data.emoji == e)}
            first = data.images[where[0]][None].expand(n, -1, -1, -1)
            cells += [Image.fromarray(data.images[where[s]].permute(1, 2, 0).numpy()) for s in range(n)]
            cells += pil_batch(translate(model, first, torch.arange(n)))
        return image_grid(cells, columns=2 * n)
    cells = []
    for s in range(n):
        picks = torch.nonzero(data.sets == s).flatten()[:count]
        for i in picks:
            row = data.images[i][None].expand(n, -1, -1, -1)
            cells += [
                Image.fromarray(data.images[i].permute(1, 2, 0).numpy()),
                *pil_batch(translate(model, row, torch.arange(n))),
            ]
    return image_grid(cells, columns=n + 1)


class ImagePool:
    """CycleGAN's history of translations: half the time the discriminator sees an older one, so the
    generator cannot win by cycling through modes the discriminator has just forgotten."""

    def __init__(self, size: int, generator: torch.Generator):
        self.size, self.generator = size, generator
        self.images: list[torch.Tensor] = []
        self.sets: list[int] = []

    def swap(self, images: torch.Tensor, sets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_images, out_sets = [], []
        for image, s in zip(images.detach(), sets.tolist(), strict=True):
            if len(self.images) < self.size:
                self.images.append(image)
                self.sets.append(s)
            elif torch.rand((), generator=self.generator) < 0.5:
                k = int(torch.randint(self.size, (), generator=self.generator))
                (image, self.images[k]), (s, self.sets[k]) = (self.images[k], image), (self.sets[k], s)
            out_images.append(image)
            out_sets.append(s)
        return torch.stack(out_images), torch.tensor(out_sets, device=images.device)


def draw_sources(by_set: list[torch.Tensor], count: int, generator: torch.Generator):
    """(images, their sets): a random set for each, then a random image of it."""
    sets = torch.randint(len(by_set), (count,), generator=generator)
    return torch.stack([by_set[s][torch.randint(len(by_set[s]), (), generator=generator)] for s in sets]), sets


def draw_batch(data: ArtSets, by_set: list[torch.Tensor], paired: dict | None, generator: torch.Generator):
    """(sources, their sets, target sets, true targets or None): a random set for each source, then a
    random image of it, and a random other set as its target. Paired: a target set that draws the
    same emoji too, and that drawing."""
    n = len(data.names)
    picks, sets = draw_sources(by_set, BATCH_SIZE, generator)
    targets = (sets + torch.randint(1, n, (BATCH_SIZE,), generator=generator)) % n
    if paired is None:
        return picks, sets, targets, None
    truth = []
    for k, (i, t) in enumerate(zip(picks.tolist(), targets.tolist(), strict=True)):
        others = paired[data.emoji[i]]
        if t not in others:  # this emoji is not in that set: another set that draws it
            choices = [s for s in others if s != int(sets[k])]
            t = choices[int(torch.randint(len(choices), (), generator=generator))] if choices else int(sets[k])
            targets[k] = t
        truth.append(others[t])
    return picks, sets, targets, torch.tensor(truth)


def crop_batch(images: torch.Tensor, corner: tuple[int, int], size: int, flip: torch.Tensor) -> torch.Tensor:
    """uint8 images [N,3,H,W] -> their size×size crops at `corner` (top, left), mirrored where `flip`
    says, in [-1, 1]: an image and its true target get the same crop and flip."""
    top, left = corner
    crops = images[:, :, top : top + size, left : left + size].float().div(127.5).sub(1)
    return torch.where(flip[:, None, None, None], crops.flip(-1), crops)


def generator_losses(
    model: Translator,
    critic: SetDiscriminator,
    x: torch.Tensor,
    sets: torch.Tensor,
    targets: torch.Tensor,
    truth: torch.Tensor | None = None,
    namer: SetReader | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(the translations of x [N,3,H,W] from `sets` into `targets`, the generator's losses by name).
    Unpaired (CycleGAN): least-squares adversarial, cycle (translated back, the image must return) and
    identity (translated into its own set, it must not change). Paired (`truth`: the same emoji as the
    target set draws it; pix2pix): adversarial and L1 to the truth. The set loss reads `namer`, a set
    classifier of its own, where the run has one, else the critic's classifier. WEIGHTS weighs them."""
    fake = model(x, targets)
    scores, logits = critic.judge(fake, targets)
    if namer is not None:
        logits = namer.classify(fake)
    losses = {
        "adversarial": (scores - 1).pow(2).mean(),
        "set": F.cross_entropy(logits, targets),  # drawn so that it reads as the target set
    }
    if truth is None:
        losses["cycle"] = (model(fake, sets) - x).abs().mean()
        losses["identity"] = (model(x, sets) - x).abs().mean()
    else:
        losses["l1"] = (fake - truth).abs().mean()
    return fake, losses


def critic_loss(
    critic: SetDiscriminator,
    real: torch.Tensor,
    sets: torch.Tensor,
    fake: torch.Tensor,
    fake_sets: torch.Tensor,
    set_weight: float = SET_WEIGHT,
) -> torch.Tensor:
    """Least squares: real art of a set scores 1 on its set's map, a translation into a set scores 0;
    and real art's set is named (the classifier the generator's "set" loss reads), and with the
    critic's fake class, a translation is named a translation."""
    real_scores, real_logits = critic.judge(real, sets)
    fake_scores, fake_logits = critic.judge(fake.detach(), fake_sets)
    adversarial = 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())
    return adversarial + set_weight * named_loss(real_logits, sets, fake_logits if critic.fake_class else None)


def named_loss(real_logits: torch.Tensor, sets: torch.Tensor, fake_logits: torch.Tensor | None) -> torch.Tensor:
    """A set classifier's loss: real art named as its set, and, given the logits of translations (a classifier
    with the fake class, its last), each translation named a translation, the two halves weighed alike."""
    named = F.cross_entropy(real_logits, sets)
    if fake_logits is None:
        return named
    translation = torch.full((len(fake_logits),), fake_logits.shape[1] - 1, dtype=torch.long, device=sets.device)
    return (named + F.cross_entropy(fake_logits, translation)) / 2


def naming_loss(namer: SetReader, real: torch.Tensor, sets: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """A set classifier of its own (--set-classifier) learns as the critic's does (named_loss): the fake class,
    where it has one, is the class beyond the sets."""
    fake_class = namer.classifier.out_features > namer.sets
    return named_loss(namer.classify(real), sets, namer.classify(fake.detach()) if fake_class else None)


def saved_blocks(path: Path) -> int:
    """How many residual blocks the generator in a compact state has."""
    generator = torch.load(path, map_location="cpu", weights_only=True)["generator"]
    return len({key.split(".")[1] for key in generator if key.startswith("blocks.")})


@torch.no_grad()
def deepen(model: Translator, shallower: Translator, scale: float = NEW_BLOCK_SCALE) -> None:
    """Give `model` a shallower translator's weights; its blocks past the shallower one's start nearly
    silent (the second norm's scale at `scale`, its shift at 0, so a block adds almost nothing to what
    passes through it), so the deeper translator draws about what the trained one drew and learns from
    there. Not exactly silent: at scale 0 (SkipInit's identity) the block's convolutions get no gradient,
    and a 6-block run's new blocks stayed out for 3,000 steps (README); Adam's steps do not shrink with
    the gradient, so at 0.01 they learn at the full rate."""
    missing = model.load_state_dict(shallower.state_dict(), strict=False).missing_keys
    first = len(shallower.blocks)
    assert all(key.startswith("blocks.") and int(key.split(".")[1]) >= first for key in missing), missing
    for block in model.blocks[first:]:
        block.norm2.scale.fill_(scale)
        block.norm2.shift.zero_()


def learning_rate(step: int, decay_from: int | None, steps: int) -> float:
    """CycleGAN's schedule: constant, then (from `decay_from`) linearly down to 0 at `steps`."""
    return LEARNING_RATE * linear_decay(step, decay_from, steps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default=None, help="default: emoji-restyle (-paired with --paired)")
    parser.add_argument("--data", type=Path, nargs="+", default=None, help="two or more folders, one set each")
    parser.add_argument("--paired", action="store_true", help="pix2pix: L1 to the true target (the emoji set only)")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--decay-from", type=int, default=None, help="the learning rate falls linearly from here")
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--resume-state", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--channels", type=int, default=CHANNELS)
    parser.add_argument(
        "--blocks",
        type=int,
        default=BLOCKS,
        help="residual blocks; resumed from a compact state with fewer, the generator is deepened: the new blocks "
        "start nearly silent (deepen)",
    )
    parser.add_argument("--crop", type=int, default=CROP, help="train on crops this big (64: whole images)")
    parser.add_argument("--keep-white", action="store_true", help="change only the art, not the white around it")
    parser.add_argument(
        "--set-weight", type=float, default=SET_WEIGHT, help="StarGAN's set classification: how hard to draw the set"
    )
    parser.add_argument(
        "--fake-class",
        action="store_true",
        help="the critic's set classifier also learns to name translations as such, so that the generator "
        "must draw the set rather than fool it (a run may turn it on when resumed)",
    )
    parser.add_argument(
        "--critic-blur",
        action="store_true",
        help="the critic blurs before each stride-2 convolution, so that stripes one pixel wide cannot steer it "
        "(a run may turn it on when resumed)",
    )
    parser.add_argument("--critic-channels", type=int, default=None, help="the critic's width (default: --channels)")
    parser.add_argument(
        "--new-critic",
        action="store_true",
        help="resuming from the compact state, keep the generator and its EMA but start the critic afresh, e.g. "
        "wider (--critic-channels): a critic too weak to see what draws a set is satisfied too easily",
    )
    parser.add_argument(
        "--set-classifier",
        type=int,
        default=0,
        metavar="CHANNELS",
        help="a set classifier of its own, this many channels wide and without spectral norm, for the generator's "
        "set loss and the shipped own-set reader (0: the critic's classifier); it learns faster and sees more "
        "than the critic's, whose spectral norm limits it (a run may gain one when resumed)",
    )
    parser.add_argument(
        "--critic-warmup",
        type=int,
        default=0,
        help="with --new-critic, or a --set-classifier the run did not have: for this many steps from the saved "
        "state only the critic and classifier train, the generator held still, so that their first, random "
        "verdicts cannot undo the generator",
    )
    parser.add_argument("--card-note", default="", help="a paragraph for the model card (e.g. how the run went)")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.paired and args.data:
        raise SystemExit("--paired needs to know which images are the same emoji: the emoji set only")
    if args.crop % 4 or not 16 <= args.crop <= RESOLUTION:
        raise SystemExit(f"--crop is a multiple of 4 from 16 to {RESOLUTION}")
    if args.data and len(args.data) < 2:
        raise SystemExit("--data needs two or more folders: one art set each")
    if args.critic_warmup and not ((args.new_critic or args.set_classifier) and args.critic_warmup > 0):
        raise SystemExit("--critic-warmup is a number of steps for a --new-critic or a new --set-classifier")
    if args.set_classifier < 0:
        raise SystemExit("--set-classifier is a width in channels (0: off)")
    critic_channels = args.critic_channels or args.channels
    name = args.name or ("emoji-restyle-paired" if args.paired else "emoji-restyle")
    run_dir = args.run_dir or ROOT / "runs" / name
    out = args.out or ROOT / "checkpoints" / name
    resume_state = args.resume_state or ROOT / "training" / "resume" / f"{name}.pt"
    device = choose_device()
    torch.manual_seed(args.seed)

    train = folder_sets(args.data) if args.data else emoji_sets("train", args.data_dir)
    heldout = None if args.data else emoji_sets("heldout", args.data_dir)
    pairs = check_pairs(heldout) if heldout else None
    recipe = {"paired": args.paired, "channels": args.channels, "blocks": args.blocks, "batch_size": BATCH_SIZE,
              "learning_rate": LEARNING_RATE, "cycle_weight": CYCLE_WEIGHT, "identity_weight": IDENTITY_WEIGHT,
              "paired_weight": PAIRED_WEIGHT if args.paired else None, "set_weight": args.set_weight,
              "pool_size": POOL_SIZE, "crop": args.crop, "keep_white": args.keep_white, "fake_class": args.fake_class,
              "critic_blur": args.critic_blur, "critic_channels": critic_channels,
              "set_classifier": args.set_classifier, "decay_from": args.decay_from,
              "steps": args.steps}  # fmt: skip

    model = Translator(
        tuple(train.names), tuple(train.titles), args.channels, args.blocks, RESOLUTION, args.keep_white
    ).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    critic = SetDiscriminator(len(train.names), critic_channels, args.fake_class, args.critic_blur).to(device)
    opt_g = torch.optim.Adam(model.parameters(), LEARNING_RATE, betas=BETAS)
    opt_d = torch.optim.Adam(critic.parameters(), LEARNING_RATE, betas=BETAS)
    parts = {"generator": model, "ema": ema, "critic": critic, "opt_g": opt_g, "opt_d": opt_d}
    networks = {"generator": model, "ema": ema, "critic": critic}  # what the compact state keeps
    namer = None
    if args.set_classifier:  # blurred, as the critic is, so that one-pixel stripes cannot steer it either
        sets = len(train.names)
        namer = SetReader(sets, args.set_classifier, blur=True, classes=sets + args.fake_class).to(device)
        opt_n = torch.optim.Adam(namer.parameters(), LEARNING_RATE, betas=BETAS)
        parts |= {"classifier": namer, "opt_n": opt_n}
        networks["classifier"] = namer
    run_dir.mkdir(parents=True, exist_ok=True)
    gained = frozenset({"classifier", "opt_n"})  # a resumed run may gain a set classifier, which then warms up
    step, elapsed, _, fresh = load_run(run_dir, parts, device, gained)
    for p in critic.classifier.parameters():  # a critic that just gained the fake class: its old moments do not fit
        if p in opt_d.state and opt_d.state[p]["exp_avg"].shape != p.shape:
            del opt_d.state[p]
    # a new critic's or classifier's warm-up: the first steps after the saved state it was started beside
    warm_until = step + args.critic_warmup if "classifier" in fresh else 0
    if step == 0 and resume_state.is_file():  # a new machine: the compact state from the repository
        kept = {k: v for k, v in networks.items() if not (k == "critic" and args.new_critic)}
        blocks = saved_blocks(resume_state)
        if blocks < args.blocks:  # a deeper generator: the saved one's weights, then nearly silent blocks (deepen)
            kept |= {net: Translator(**model._hub_mixin_config | {"blocks": blocks}) for net in ("generator", "ema")}
        step, elapsed, _, fresh = load_compact(resume_state, kept, device, gained)
        if blocks < args.blocks:
            deepen(model, kept["generator"])
            deepen(ema, kept["ema"])
            print(f"deepened the generator from {blocks} to {args.blocks} residual blocks")
        warm_until = step + args.critic_warmup if args.new_critic or "classifier" in fresh else 0

    def finish() -> None:
        metrics = evaluate(ema, heldout, pairs) if heldout else {}
        print(json.dumps(metrics))
        meta = {
            "steps": step,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "recipe": recipe,
            "metrics": metrics,
            "command": card_command(
                "training.train_restyle",
                list(argv if argv is not None else sys.argv[1:]),
                private=("--card-note", "--run-dir", "--out", "--resume-state"),
            ),
            "note": args.card_note,
        }
        shipped = with_reader(ema, namer or critic)
        export(shipped, out, meta, sample_grid(ema, heldout or train, pairs), data_attribution=heldout is not None)

    if args.export_only:
        finish()
        return

    def save() -> None:
        save_run(run_dir, parts, step, elapsed)
        save_compact(resume_state, networks, step, elapsed, recipe)

    by_set = [torch.nonzero(train.sets == s).flatten() for s in range(len(train.names))]
    paired = None
    if args.paired:  # emoji -> {set: index}; only emoji that two or more sets draw can be paired
        paired = {}
        for i, (e, s) in enumerate(zip(train.emoji, train.sets.tolist(), strict=True)):
            paired.setdefault(e, {})[s] = i
        alone = {i for e, where in paired.items() if len(where) < 2 for i in where.values()}
        by_set = [torch.tensor([i for i in ids.tolist() if i not in alone]) for ids in by_set]
    generator = torch.Generator().manual_seed(args.seed + step)
    pool = ImagePool(POOL_SIZE, generator)
    weights = WEIGHTS | {"set": args.set_weight}
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc=name, dynamic_ncols=True)
    while step < args.steps:
        for opt in (opt_g, opt_d) + ((opt_n,) if namer else ()):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, args.decay_from, args.steps)
        picks, sets, targets, truth = draw_batch(train, by_set, paired, generator)
        flip = torch.rand(BATCH_SIZE, generator=generator) < 0.5
        corner = tuple(int(v) for v in torch.randint(RESOLUTION - args.crop + 1, (2,), generator=generator))
        x = crop_batch(train.images[picks], corner, args.crop, flip).to(device)
        y = None if truth is None else crop_batch(train.images[truth], corner, args.crop, flip).to(device)
        sets, targets = sets.to(device), targets.to(device)

        warming = step < warm_until  # the generator held still while a new critic learns
        if warming:  # only the translations the critic learns from: no generator losses
            with torch.no_grad():
                fake, losses = model(x, targets), {}
        else:
            fake, losses = generator_losses(model, critic, x, sets, targets, y, namer)
            loss_g = sum(weights[name] * value for name, value in losses.items())
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

        old, old_sets = pool.swap(fake, targets)
        loss_d = critic_loss(critic, x, sets, old, old_sets, args.set_weight)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if namer is not None:
            more, more_sets = draw_sources(by_set, NAMING_BATCH - BATCH_SIZE, generator)
            more_flip = torch.rand(len(more), generator=generator) < 0.5
            named = torch.cat([x, crop_batch(train.images[more], corner, args.crop, more_flip).to(device)])
            loss_n = naming_loss(namer, named, torch.cat([sets, more_sets.to(device)]), old)
            opt_n.zero_grad(set_to_none=True)
            loss_n.backward()
            opt_n.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                decay = 1.0 if warming else EMA_DECAY if step >= 500 else 0.0  # early weights are noise: copied
                e.lerp_(p, 1 - decay)

        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(d=f"{loss_d.item():.3f}", **{k: f"{v.item():.4f}" for k, v in losses.items()})
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            sample_grid(ema, heldout or train, pairs).save(run_dir / f"samples-{step:06d}.png")
            if heldout:
                print(json.dumps({"step": step, **evaluate(ema, heldout, pairs)}))
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    finish()


def with_reader(ema: Translator, classifier: SetReader) -> Translator:
    """The EMA generator with a set classifier beside it (the run's own, or the critic's: engines/nets/
    restyle.py's SetReader), which names an image's own set in the Restyle tab."""
    reader = classifier.reader()
    # the generator's own config (what save_pretrained writes to config.json), plus the reader's
    config = ema._hub_mixin_config | {"reader_channels": reader.classifier.in_features // 4, "reader_blur": reader.blur}
    shipped = Translator(**config).to(next(ema.parameters()).device)
    missing = shipped.load_state_dict(ema.state_dict(), strict=False).missing_keys
    assert all(key.startswith("reader.") for key in missing), missing  # the EMA has every weight but the reader's
    shipped.reader.load_state_dict(reader.state_dict())
    return shipped.eval().requires_grad_(False)


def export(ema: Translator, out_dir: Path, meta: dict, grid: Image.Image, data_attribution: bool) -> None:
    """The EMA generator as fp16 safetensors + config, atelier.json (so the Restyle tab lists it), the
    figures, the grid and the card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copy.deepcopy(ema).half().save_pretrained(out_dir)
    paired = meta["recipe"]["paired"]
    title = f"Emoji art-set translator ({'paired, pix2pix' if paired else 'unpaired, CycleGAN'}; 64 px)"
    if not data_attribution:
        title = f"Translator between {', '.join(ema.set_names)} (unpaired, CycleGAN; 64 px)"
    sets = [list(pair) for pair in zip(ema.set_names, ema.set_titles, strict=True)]  # the tab lists them unloaded
    settings = {"task": "restyle", "title": title, "resolution": ema.resolution, "paired": paired, "sets": sets}
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2) + "\n")
    (out_dir / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    grid = grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST)
    grid.save(out_dir / "heldout.png")
    drawing = sum(p.numel() for name, p in ema.named_parameters() if not name.startswith("reader."))
    write_restyle_card(out_dir, title, meta, drawing, ema, data_attribution)
    print(f"exported to {out_dir}")


def write_restyle_card(out_dir: Path, title: str, meta: dict, parameters: int, ema: Translator, emoji: bool) -> None:
    from training.model_card import write_card

    r = meta["recipe"]
    figures = {
        f"held-out {k} (dB; {CHECK_EMOJI} emoji × every ordered pair of sets)": f"{v:.2f}"
        for k, v in meta["metrics"].items()
    }
    figures["network"] = (
        f"{parameters / 1e6:.2f}M parameters: {r['channels']} channels, {r['blocks']} residual blocks at a quarter "
        f"of the side, one generator for {len(ema.set_names)} sets ({', '.join(ema.set_titles)})"
    )
    reader = "the run's set classifier" if r.get("set_classifier") else "the critic's set classifier"
    if ema.reader is not None:
        figures["own-set reader"] = (
            f"{reader}, {sum(p.numel() for p in ema.reader.parameters()) / 1e6:.2f}M parameters: "
            "names an image's own set when it is not given"
        )
    figures["training"] = (
        f"{meta['steps']:,} steps × batch {r['batch_size']}, {meta['train_minutes']} min on {meta['device']}"
    )
    if r["paired"]:
        how = (
            f"Trained *paired*, as pix2pix is: L1 to the same emoji as the target set really draws it (weight "
            f"{PAIRED_WEIGHT:g}) plus the adversarial and set-classification losses. It is the reference the "
            "unpaired translator is measured against: what the same network learns when it is shown the answers."
        )
    else:
        how = (
            "Trained *unpaired*, as CycleGAN is: the trainer never sees which images are the same emoji. Losses: "
            f"least-squares adversarial, cycle consistency (weight {CYCLE_WEIGHT:g}), identity (weight "
            f"{IDENTITY_WEIGHT:g}) and StarGAN's set classification (weight {r['set_weight']:g}: the discriminator "
            "learns to name real art's set, the generator to make translations it names as the target); the "
            f"discriminator sees translations from a pool of the last {POOL_SIZE}."
        )
    critic_sentences = {
        "fake_class": "The critic's classifier also has a class of its own for translations, which it learns to "
        "name, so that the generator must draw the set rather than fool the classifier. ",
        "critic_blur": "The critic blurs before each stride-2 convolution, so that stripes one pixel wide cannot "
        "steer it. ",
    }
    critic = "".join(sentence for flag, sentence in critic_sentences.items() if r.get(flag))
    if r.get("set_classifier"):
        critic += (
            f"The generator's set loss reads a set classifier of its own ({r['set_classifier']} channels wide, "
            f"without spectral norm, blurred as the critic is), trained beside the critic on {NAMING_BATCH} real "
            "images a step; it is also the shipped own-set reader. "
        )
    if r.get("critic_channels", r["channels"]) != r["channels"]:
        critic += f"The critic is {r['critic_channels']} channels wide (the generator {r['channels']}). "
    summary = (
        "Redraws an image in another art set. One generator for every set, told which to draw in (StarGAN's "
        "idea: the sets share what an emoji is), CycleGAN's ResNet generator at a CPU's size, the target set "
        "entering every residual block through conditional instance normalisation; a PatchGAN discriminator with "
        f"spectral norm and one output map per set. {how} {critic}"
        + (
            "Trained on whole 64 px images. "
            if r.get("crop", RESOLUTION) == RESOLUTION
            else f"Trained on random {r['crop']} px crops of the 64 px art; being convolutional, it translates "
            "whole images. "
        )
        + (
            "Its change is confined to the art's footprint (every pixel that is not white, grown by a pixel): the "
            "white around the art stays white. "
            if r.get("keep_white")
            else ""
        )
        + "The Restyle tab pads an image to a square with white (as the art is drawn) "
        f"and shrinks it to 64 px; an image's own set, when not named, is read by {reader}, shipped beside the "
        "generator."
    )
    grid_caption = (
        "held-out emoji, a row each: the real art in every set · the first set's drawing translated into every set"
        if emoji
        else "a row per image: the image · translated into every set"
    )
    write_card(
        out_dir,
        title=title,
        summary=summary,
        figures=figures,
        command=("python -m training.data --size 64\n" if emoji else "") + meta["command"],
        grids={grid_caption: "heldout.png"},
        details=meta.get("note", ""),
        tags=("image-to-image", "cyclegan", "style-transfer"),
        emoji_data=emoji,
    )


if __name__ == "__main__":
    main()
