"""Fine-tune the text model into an inpainting model that sees the mask: the Edit tab's default.

    python -m training.train_inpaint                  # 9,000 steps (82 CPU min); resumable: runs/emoji-inpaint/last.pt
    python -m training.train_inpaint --export-only    # write checkpoints/emoji-inpaint from the run
    python -m training.train_inpaint --steps 17000 --decay-from 13000   # a last stretch, rates falling to 0

Stable Diffusion's inpainting recipe at emoji size. The UNet of emoji-ldm gets five more input
channels, zero-initialised (so training starts from the text model as it is): the mask at latent
size, and the latent of the image with the masked part blanked out. It is then trained on the
emoji train split with random masks (boxes, brush strokes, and now and then the whole image),
with the text model's captions, colour words and loss (training/train_ldm.py), so the same
prompts work. Everything but the UNet (the emoji VAE, MiniLM, the scheduler) is emoji-ldm's own,
so the export is the UNet alone and the engine borrows the rest from the text model
(atelier.json: "base": "emoji-ldm").

Why: the text model inpaints the way diffusers runs a 4-channel UNet, re-noising the known
latent each step outside the mask; the UNet never sees the hole's border as such, so the fill is
drawn as a whole new image that only agrees with the surroundings where the re-noised latent
pulls it. A UNet that sees the mask and the known pixels draws the fill to fit them
(benchmarks/edit_quality.py measures both).

The masked image is made exactly as diffusers' StableDiffusionInpaintPipeline makes it at
sampling time (pixels under the mask set to 0 in [-1, 1], the mask binarised and shrunk to the
latent's size with nearest-neighbour interpolation), so training and sampling agree.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from tqdm import tqdm

from engines.base import tensor_batch
from engines.edit import seamless
from engines.imaging import image_grid
from engines.text import named_scheduler
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
from training.train_ldm import (
    CAPTION_DROP,
    COLOUR_VARIANTS,
    OFFSET_NOISE,
    SAMPLE_STEPS,
    SCHEDULER,
    captioned_batch,
    encoded,
    min_snr_weights,
    style_phrase,
    training_set,
)

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
NAME = "emoji-inpaint"
BASE = "emoji-ldm"  # the text model it is fine-tuned from, whose VAE, MiniLM and scheduler it uses
TITLE = "Emoji inpainting (emoji-ldm's UNet, fine-tuned to see the mask)"
BATCH_SIZE = 32
LEARNING_RATE = 2e-4  # the text model's
# The input convolution learns 5x faster: its new weights start at zero, and at the base rate the
# first 1,000 steps left the fills as the text model drew them (they barely read the mask).
INPUT_LEARNING_RATE = 1e-3
WARMUP_STEPS = 100
EMA_DECAY = 0.998  # a shorter run than the text model's (0.999): the average trails it by ~500 steps
WHOLE_IMAGE = 0.1  # share of masks that cover everything, so an empty canvas still draws an emoji
SAMPLE_EVERY = 500
CHECKPOINT_EVERY = 250
GRID_EMOJI = 6  # held-out emoji in the card's grid, each with GRID_SEEDS fills
GRID_SEEDS = 4
# Its default guidance: on 96 held-out emoji (at 6,000 steps), 2 gave the most realistic fills
# (Fréchet distance 34.7, against 34.8 at 1.5, 35.0 at 3 and 35.5 at 4, the text model's own).
GUIDANCE = 2.0
# Its default sampler: on 256 held-out emoji (2 seed sets each) Euler a's fills were more realistic
# than DPM-Solver++'s, the text model's (Fréchet distance 12.26 and 12.31 against 12.57 and 12.68);
# on all 698, 4.08 against 4.58. Written into atelier.json, so the Edit tab's "model default" is it.
SAMPLER = "Euler a"
PRIVATE_FLAGS = ("--run-dir", "--out", "--resume-state", "--base", "--data-dir")  # this machine's folders
# ---------------------------------------------------------------------------------------


def random_masks(rng: np.random.Generator, count: int, side: int = 64) -> np.ndarray:
    """[count, side, side] bool, True where to repaint: one to three boxes, a brush stroke of 2-6
    points, or (WHOLE_IMAGE of the time) the whole image. Areas range from a few % to most of it."""
    masks = np.zeros((count, side, side), dtype=bool)
    for n in range(count):
        kind = rng.random()
        if kind < WHOLE_IMAGE:
            masks[n] = True
            continue
        mask = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(mask)
        if kind < (1 + WHOLE_IMAGE) / 2:
            for _ in range(int(rng.integers(1, 4))):
                w, h = rng.integers(side // 8, side * 3 // 4, 2)
                x, y = rng.integers(0, side - w), rng.integers(0, side - h)
                draw.rectangle((int(x), int(y), int(x + w), int(y + h)), fill=255)
        else:
            points = [tuple(int(v) for v in rng.integers(0, side, 2))]
            for _ in range(int(rng.integers(1, 6))):
                step = rng.normal(0, side / 4, 2)
                points.append(tuple(int(np.clip(p + s, 0, side - 1)) for p, s in zip(points[-1], step, strict=True)))
            draw.line(points, fill=255, width=int(rng.integers(side // 16, side // 4)), joint="curve")
        masks[n] = np.asarray(mask) > 127
    return masks


def inpainting_unet(unet):
    """A copy of a 4-channel UNet that takes 9 channels (latent, mask, masked image's latent); the
    new input weights are zero, so it starts out drawing exactly as the text model does."""
    from diffusers import UNet2DConditionModel

    wide = UNet2DConditionModel.from_config({**unet.config, "in_channels": 9})
    state = unet.state_dict()
    weight = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], 5, *weight.shape[2:])], 1)
    wide.load_state_dict(state)
    return wide


def unet_inputs(vae, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask at latent size, latent of the masked image) as StableDiffusionInpaintPipeline makes them:
    images in [-1, 1] [B,3,H,W], masks {0, 1} [B,1,H,W]."""
    masked = images * (masks < 0.5)
    latents = vae.encode(masked).latent_dist.mode() * vae.config.scaling_factor
    return F.interpolate(masks, size=latents.shape[-2:]), latents


def inpainting_pipeline(base, unet):
    """A stock StableDiffusionInpaintPipeline: the base text pipeline's parts around the 9-channel UNet."""
    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pipe(base, unet=unet)
    pipe.scheduler = named_scheduler(base.scheduler, SAMPLER)  # what the Edit tab samples it with
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def sample_grid(pipe, heldout: dict) -> Image.Image:
    """A row per held-out emoji: the original, the hole (grey), then GRID_SEEDS fills of it, prompted
    with its caption and art set, put into the image as the Edit tab does by default (seamless)."""
    rng = np.random.default_rng(1)
    picks = rng.choice(len(heldout["images"]), GRID_EMOJI, replace=False)
    masks = random_masks(np.random.default_rng(2), 4 * GRID_EMOJI)
    masks = [m for m in masks if 0.1 <= m.mean() <= 0.5][:GRID_EMOJI]
    cells = []
    for i, mask in zip(picks, masks, strict=False):
        image = Image.fromarray(heldout["images"][i])
        hole = Image.fromarray(mask.astype(np.uint8) * 255, "L")
        prompt = f"{heldout['caption'][i]}, {style_phrase(str(heldout['style_names'][heldout['style'][i]]))}"
        generators = [torch.Generator("cpu").manual_seed(s) for s in range(GRID_SEEDS)]
        fills = pipe(
            [prompt] * GRID_SEEDS,
            image=[image] * GRID_SEEDS,
            mask_image=[hole] * GRID_SEEDS,
            num_inference_steps=SAMPLE_STEPS,
            guidance_scale=GUIDANCE,
            generator=generators,
            height=image.height,
            width=image.width,
        ).images
        holed = image.copy()
        holed.paste((128, 128, 128), mask=hole)
        cells += [image, holed, *seamless(image, fills, hole)]
    return image_grid(cells, 2 + GRID_SEEDS)


def save_checkpoint(unet, out_dir: Path, base: str = BASE, title: str = TITLE, steps: int = SAMPLE_STEPS) -> None:
    """What the Edit engine loads: the UNet (fp16: half the size) and atelier.json naming its base."""
    out_dir.mkdir(parents=True, exist_ok=True)
    unet.half().save_pretrained(out_dir / "unet", safe_serialization=True)
    unet.float()
    settings = {"task": "edit", "base": base, "title": title, "image_size": 64}
    settings |= {"steps": steps, "guidance_scale": GUIDANCE, "scheduler": SAMPLER}
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2) + "\n")


def export(pipe, out_dir: Path, meta: dict, data_dir: Path = emoji_data.DATA_DIR) -> None:
    from training.model_card import write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    sample_grid(pipe, emoji_data.load(64, "heldout", data_dir=data_dir)).save(out_dir / "samples.png")
    base = meta["base"]
    save_checkpoint(pipe.unet, out_dir, base)
    (out_dir / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_card(
        out_dir,
        title=TITLE,
        summary=(
            f"The Edit tab's inpainting model: the {meta['parameters'] / 1e6:.1f}M-parameter UNet of `{base}` with "
            "five more input channels (the mask at latent size and the latent of the image with the masked part "
            "blanked out), fine-tuned on the emoji set with random masks, as Stable Diffusion's inpainting model was "
            f"made from Stable Diffusion. Only the UNet is here: the emoji VAE, MiniLM and scheduler are `{base}`'s, "
            "and the Edit engine puts them together into a diffusers StableDiffusionInpaintPipeline."
        ),
        figures={
            "training": f"{meta['steps']} steps × batch {meta['batch_size']}, {meta['train_minutes']} min on "
            f"{meta['device']}, from {base}'s weights",
            "sampling": f"{SAMPLE_STEPS} {SAMPLER} steps, guidance {GUIDANCE} (the Edit tab's defaults for it)",
            "quality": "see Inpainting (python -m benchmarks.edit_quality --update-cards)",
        },
        command=meta["command"],
        grids={
            f"held-out emoji: the original, the hole, then fills at seeds 0–{GRID_SEEDS - 1} prompted with its "
            "caption and art set, put in with the seamless edge": "samples.png"
        },
        details=(
            "Masks: one to three boxes or a brush stroke (2–6 points, 4–16 px wide), or the whole image "
            f"{WHOLE_IMAGE:.0%} of the time. The captions, colour words (hue-shifted copies), caption dropping "
            f"({CAPTION_DROP:.0%}, for classifier-free guidance), offset noise and min-SNR loss are the text "
            f"model's. AdamW at {LEARNING_RATE} ({INPUT_LEARNING_RATE} for the input convolution, whose new weights "
            f"start at zero) after {WARMUP_STEPS} warm-up steps; EMA {EMA_DECAY} (shipped). "
            "So step 0 is the text model itself."
        ),
        tags=("inpainting", "latent-diffusion", "emoji"),
    )
    print(f"exported to {out_dir}")


def main(argv: list[str] | None = None) -> None:
    from diffusers import DDPMScheduler, StableDiffusionPipeline

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument(
        "--decay-from", type=int, default=None,
        help="learning rates fall linearly from this step to 0 at --steps (a last stretch)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--base", type=Path, default=ROOT / "checkpoints" / BASE, help="the text model's folder")
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / NAME)
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / NAME)
    parser.add_argument(
        "--resume-state", type=Path, default=ROOT / "training" / "resume" / f"{NAME}.pt",
        help="the compact state kept in the repository for a new machine",
    )  # fmt: skip
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = choose_device()
    base = StableDiffusionPipeline.from_pretrained(args.base, dtype=torch.float32, use_safetensors=True)
    base.to(device).set_progress_bar_config(disable=True)
    for part in (base.vae, base.text_encoder, base.unet):
        part.eval().requires_grad_(False)
    unet = inpainting_unet(base.unet).to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    first = list(unet.conv_in.parameters())
    rest = [p for p in unet.parameters() if all(p is not f for f in first)]
    groups = [{"params": first, "base_lr": INPUT_LEARNING_RATE}, {"params": rest, "base_lr": LEARNING_RATE}]
    opt = torch.optim.AdamW(groups, lr=LEARNING_RATE, weight_decay=0.01)
    noise_scheduler = DDPMScheduler(**SCHEDULER)

    args.run_dir.mkdir(parents=True, exist_ok=True)
    parts = {"unet": unet, "ema": ema, "optimizer": opt}
    step, elapsed, _, _ = load_run(args.run_dir, parts, device)
    networks = {"unet": unet, "ema": ema}  # what the compact state keeps (the optimizer starts afresh)
    if step == 0 and args.resume_state.is_file():
        step, elapsed, _, _ = load_compact(args.resume_state, networks, device)
    pipe = inpainting_pipeline(base, ema)

    given = list(argv if argv is not None else sys.argv[1:])

    def meta() -> dict:
        return {
            "steps": step,
            "batch_size": args.batch_size,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "parameters": sum(p.numel() for p in ema.parameters()),
            "base": args.base.name,
            "command": card_command("training.train_inpaint", given, private=PRIVATE_FLAGS),
        }

    if args.export_only:
        export(pipe, args.out, meta(), args.data_dir)
        return

    train = emoji_data.load(64, "train", data_dir=args.data_dir)
    images, captions, options, originals = training_set(train, COLOUR_VARIANTS, args.seed)
    latents, states, empty = encoded(base, images, captions, args.run_dir)
    options = torch.from_numpy(options).long()

    def save() -> None:
        save_run(args.run_dir, parts, step, elapsed)
        save_compact(args.resume_state, networks, step, elapsed, {"base": args.base.name})

    batches = torch.Generator().manual_seed(args.seed + step)
    mask_rng = np.random.default_rng(args.seed + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc=NAME, dynamic_ncols=True)
    while step < args.steps:
        # the text model's batches: its art and hue-shifted copies, captions as it was trained with
        idx, cond = captioned_batch(originals, len(latents), options, states, empty, args.batch_size, batches)
        cond = cond.to(device)
        masks = torch.from_numpy(random_masks(mask_rng, args.batch_size)).float()[:, None].to(device)
        with torch.no_grad():
            mask_latent, masked_latents = unet_inputs(base.vae, tensor_batch(images[idx.numpy()]).to(device), masks)
        z0 = latents[idx].to(device)
        noise = torch.randn_like(z0) + OFFSET_NOISE * torch.randn(*z0.shape[:2], 1, 1, device=device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (args.batch_size,), device=device)
        noisy = noise_scheduler.add_noise(z0, noise, t)
        pred = unet(torch.cat([noisy, mask_latent, masked_latents], 1), t, cond).sample
        loss = (F.mse_loss(pred, noise, reduction="none").mean((1, 2, 3)) * min_snr_weights(noise_scheduler, t)).mean()
        scale = min(1.0, (step + 1) / WARMUP_STEPS) * linear_decay(step, args.decay_from, args.steps)
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * scale
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), unet.parameters(), strict=True):
                e.lerp_(p, 1 - (EMA_DECAY if step >= WARMUP_STEPS else 0.0))
        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            sample_grid(pipe, emoji_data.load(64, "heldout", data_dir=args.data_dir)).save(
                args.run_dir / f"samples-{step:06d}.png"
            )
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    export(pipe, args.out, meta(), args.data_dir)


if __name__ == "__main__":
    main()
