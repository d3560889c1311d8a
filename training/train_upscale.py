"""Train the ×4 upscaler on the emoji set: art drawn small, the same art rendered 4× larger.

    python -m training.data --size 32 && python -m training.data --size 128 && python -m training.data --size 256
    python -m training.train_upscale --minutes 60      # resumable: runs/emoji-upscale/last.pt
    python -m training.train_upscale --export-only     # write checkpoints/emoji-upscale

Pairs come from vector art, so the large image is exact: each emoji rendered at 32 and 128 px
(what the GANs draw, ×4) and at 64 and 256 px (what the text model and the VAE draw, ×4); train
split only. The small image is degraded the way the studio's models degrade it, so the upscaler
cleans as it enlarges: the 64 px art passed through the emoji VAE (soft edges, colour noise, as
the text model's decoded latents), a Gaussian blur, Gaussian noise. Training sees 16×16 crops of
the small image and the 64×64 crops they become. Loss: L1.

A run that spans sessions keeps a compact state in the repository (training/resume/<name>.pt:
fp16 weights of the network and its EMA, the step, the recipe; a few hundred kB), written with
every checkpoint; a new machine resumes from it when runs/<name>/last.pt is missing.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from engines.base import pil_batch, tensor_batch
from engines.imaging import image_grid
from engines.metrics import psnr
from engines.nets.upscale import Upscaler
from training import data as emoji_data
from training.run_state import card_command, choose_device, load_compact, load_run, save_compact, save_run

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
NAME = "emoji-upscale"
TITLE = "Emoji upscaler ×4 (32→128, 64→256)"
CHANNELS, LAYERS, SCALE = 48, 12, 4  # the shipped network; --channels/--layers try others
PATCH = 16  # small crops; the large ones are PATCH * SCALE
BATCH_SIZE = 32
LEARNING_RATE = 5e-4
EMA_DECAY = 0.999
CHECKPOINT_EVERY = 500
SAMPLE_EVERY = 1000
PAIRS = ((32, 128), (64, 256))  # (small, large) sizes


def degrade(small: torch.Tensor, vae_small: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """A batch of small images in [-1, 1], degraded as studio outputs are: half through the VAE (when
    given), then a blur of random strength for half, and Gaussian noise for half."""
    n = len(small)
    pick = lambda p: (torch.rand(n, generator=generator) < p)[:, None, None, None]  # noqa: E731
    x = torch.where(pick(0.5), vae_small, small) if vae_small is not None else small
    sigma = torch.rand(n, generator=generator) * 1.2
    blurred = torch.stack([gaussian_blur(img, float(s)) for img, s in zip(x, sigma, strict=True)])
    x = torch.where(pick(0.5), blurred, x)
    noise = torch.randn(x.shape, generator=generator) * torch.rand(n, 1, 1, 1, generator=generator) * 0.06
    return torch.where(pick(0.5), x + noise, x).clamp(-1, 1)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma < 0.2:
        return image
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = F.pad(image[None], (radius,) * 4, mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    return x[0]


def vae_round_trip(images: torch.Tensor, vae_dir: Path, device: torch.device) -> torch.Tensor:
    """64 px images through the emoji VAE (encode, decode): what the text model's outputs look like."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(vae_dir, use_safetensors=True).to(device).eval()
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), 64), desc="through the VAE"):
            x = images[start : start + 64].to(device)
            out.append(vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1).cpu())
    return torch.cat(out)


def crops(small, large, vae_small, generator):
    """A batch of aligned crops: (small [B,3,P,P], its VAE copy or None, large [B,3,4P,4P])."""
    n, side = len(small), small.shape[-1]
    idx = torch.randint(n, (BATCH_SIZE,), generator=generator)
    ys = torch.randint(side - PATCH + 1, (BATCH_SIZE,), generator=generator)
    xs = torch.randint(side - PATCH + 1, (BATCH_SIZE,), generator=generator)
    s = torch.stack([small[i, :, y : y + PATCH, x : x + PATCH] for i, y, x in zip(idx, ys, xs, strict=True)])
    big = PATCH * SCALE
    b = torch.stack(
        [
            large[i, :, y * SCALE : y * SCALE + big, x * SCALE : x * SCALE + big]
            for i, y, x in zip(idx, ys, xs, strict=True)
        ]
    )
    v = None
    if vae_small is not None:
        v = torch.stack([vae_small[i, :, y : y + PATCH, x : x + PATCH] for i, y, x in zip(idx, ys, xs, strict=True)])
    flip = (torch.rand(BATCH_SIZE, generator=generator) < 0.5)[:, None, None, None]
    s, b = torch.where(flip, s.flip(-1), s), torch.where(flip, b.flip(-1), b)
    v = torch.where(flip, v.flip(-1), v) if v is not None else None
    return (
        s.float().div(127.5).sub(1),
        (v.float().div(127.5).sub(1) if v is not None else None),
        b.float().div(127.5).sub(1),
    )


def evaluate(model, pairs_heldout) -> dict[str, float]:
    """Held-out PSNR (dB) at each ×4 pair, for the network (as the studio runs it: self_ensemble),
    bicubic and nearest, on clean inputs."""
    scores = {}
    model.eval()
    with torch.inference_mode():
        for (small_size, large_size), (small, large) in pairs_heldout.items():
            x, y = tensor_batch(small), tensor_batch(large)
            made = torch.cat([model.self_ensemble(x[i : i + 32]).clamp(-1, 1) for i in range(0, len(x), 32)])
            bicubic = F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False).clamp(-1, 1)
            nearest = F.interpolate(x, scale_factor=SCALE, mode="nearest")
            for name, z in (("ours", made), ("bicubic", bicubic), ("nearest", nearest)):
                scores[f"{small_size}to{large_size}_{name}"] = round(psnr((z + 1) / 2, (y + 1) / 2).mean().item(), 3)
    model.train()
    return scores


def sample_grid(model, small: np.ndarray, large: np.ndarray) -> Image.Image:
    """Rows of (input enlarged nearest · bicubic · ours · ground truth) for a few held-out emoji."""
    x = tensor_batch(small)
    with torch.inference_mode():
        made = pil_batch(model.eval().self_ensemble(x))
        bicubic = pil_batch(F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False))
    model.train()
    side = large.shape[1]
    cells = []
    for i in range(len(small)):
        cells += [Image.fromarray(small[i]).resize((side, side), Image.Resampling.NEAREST), bicubic[i], made[i]]
        cells.append(Image.fromarray(large[i]))
    return image_grid(cells, columns=4)


def studio_grids(model, out_dir: Path) -> list[int]:
    """Grids of what the bundled generators really draw, ×4: rows of (input, enlarged with hard pixels ·
    bicubic · ours). 32 px: the GAN and the class-conditional GAN; 64 px: the text model and VAE."""
    from engines import create_engines

    engines = create_engines()
    registry = engines.registry
    made: dict[int, list[Image.Image]] = {32: [], 64: []}
    if spec := registry.default("gan"):
        made[32] += [r.image for r in engines.gan.sample(seed=0, count=4, psi=0.8, model_id=spec.id)]
    if spec := registry.default("conditional"):
        labels = {"category": "food-drink", "style": "noto"}
        made[32] += [
            r.image for r in engines.conditional.sample(labels=labels, seed=0, count=4, psi=0.8, model_id=spec.id)
        ]
    if spec := registry.default("text"):
        made[64] += [
            r.image for r in engines.text.draw("a red apple, noto style", "", 0, 4, 20, 4.0, "model default", spec.id)
        ]
    if spec := registry.default("vae"):  # reconstructions of held-out emoji (examples/)
        examples = sorted((ROOT / "examples").glob("*.png"))[:4]
        made[64] += [engines.vae.reconstruct(str(path), spec.id).reconstruction for path in examples]
    grids = []
    for size, images in made.items():
        if not images:
            continue
        x = tensor_batch(images)
        with torch.inference_mode():
            ours = pil_batch(model.eval().self_ensemble(x))
            bicubic = pil_batch(F.interpolate(x, scale_factor=SCALE, mode="bicubic", align_corners=False))
        cells = []
        for i, image in enumerate(images):
            cells += [image.resize(ours[i].size, Image.Resampling.NEAREST), bicubic[i], ours[i]]
        image_grid(cells, columns=3).save(out_dir / f"studio-{size}.png")
        grids.append(size)
    return grids


def write_upscale_card(out_dir: Path, meta: dict, parameters: int, studio_sizes: list[int]) -> None:
    from training.model_card import write_card

    m = meta["metrics"]
    figures = {}
    for small, large in PAIRS:
        key = f"{small}to{large}"
        figures[f"held-out PSNR, {small}→{large} (64 emoji)"] = (
            f"**{m[key + '_ours']:.2f} dB** (bicubic {m[key + '_bicubic']:.2f}, nearest {m[key + '_nearest']:.2f}; "
            f"{m[key + '_ours'] - m[key + '_bicubic']:+.2f} dB over bicubic)"
        )
    figures["network"] = (
        f"{parameters / 1e3:.0f}k parameters: {meta['recipe']['channels']} channels, "
        f"{meta['recipe']['layers']} layers, PixelShuffle ×{SCALE}"
    )
    figures["training"] = (
        f"{meta['steps']:,} steps × batch {BATCH_SIZE} ({PATCH}×{PATCH} crops), {meta['train_minutes']} min on "
        f"{meta['device']}"
    )
    grids = {
        "held-out emoji, 32→128: input (hard pixels) · bicubic · ours · the art at 128 px": "heldout-32to128.png",
        "held-out emoji, 64→256: input · bicubic · ours · the art rendered at 256 px": "heldout-64to256.png",
    }
    if 32 in studio_sizes:
        grids["what the GANs draw (emoji-gan, then emoji-conditional's Noto food), ×4: input · bicubic · ours"] = (
            "studio-32.png"
        )
    if 64 in studio_sizes:
        grids["the text model's red apples (noto style), then VAE reconstructions, ×4: input · bicubic · ours"] = (
            "studio-64.png"
        )
    summary = (
        "A ×4 super-resolution network for the studio's art: it enlarges 32 px GAN images to 128 px and 64 px "
        "text-model and VAE images to 256 px (*Hires ×4* in every tab, and the *Upscale* tab). It is a compact "
        "residual network in the style of Real-ESRGAN's SRVGGNetCompact: every convolution runs at the input's "
        "size, which keeps it cheap on a CPU, and PixelShuffle makes the 4× image at the end, added to a bilinear "
        "enlargement so the network learns only the detail that bilinear lacks (ESPCN's sub-pixel convolution; "
        "EDSR-style deep bodies cost far more per pixel for a small gain on flat-coloured art). It was trained on "
        "pairs rendered from the emoji set's SVGs, exact at both sizes; the small image degraded as the studio's "
        "models degrade it (through the emoji VAE, blur, noise), so it cleans as it enlarges. Loss: L1. The studio "
        "(and every figure and grid here) runs it as a self-ensemble: the mean of the image's enlargement and its "
        "mirror image's, mirrored back (EDSR's geometric self-ensemble, the flip alone), +0.2 dB for twice the "
        "compute."
    )
    write_card(
        out_dir,
        title=TITLE,
        summary=summary,
        figures=figures,
        command="python -m training.data --size 32 && python -m training.data --size 128 && "
        f"python -m training.data --size 256\n{meta['command']}",
        grids=grids,
        tags=("super-resolution", "upscaler"),
    )


def learning_rate(step: int, decay_from: int | None, steps: int) -> float:
    """LEARNING_RATE, then (from `decay_from`) a cosine down to 0 at `steps`: the last gain of a run
    whose held-out PSNR levels off at a constant rate."""
    if decay_from is None or step < decay_from:
        return LEARNING_RATE
    done = (step - decay_from) / max(1, steps - decay_from)
    return LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40000)
    parser.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / NAME)
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / NAME)
    parser.add_argument("--resume-state", type=Path, default=ROOT / "training" / "resume" / f"{NAME}.pt")
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--vae", type=Path, default=ROOT / "checkpoints" / "emoji-vae")
    parser.add_argument(
        "--export-only", action="store_true",
        help="export the run; with no run, make the card and grids of the model in --out again",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=CHANNELS, help="width of the body")
    parser.add_argument("--layers", type=int, default=LAYERS, help="convolutions in the body")
    parser.add_argument(
        "--lr-decay-from", type=int, default=None, metavar="STEP",
        help="from this step on, the learning rate falls along a cosine to 0 at --steps",
    )  # fmt: skip
    parser.add_argument(
        "--studio-grids", action=argparse.BooleanOptionalAction, default=True,
        help="grids of the bundled generators' outputs ×4 in the card",
    )  # fmt: skip
    args = parser.parse_args(argv)
    device = choose_device()
    torch.manual_seed(args.seed)
    recipe = {"channels": args.channels, "layers": args.layers, "scale": SCALE, "patch": PATCH,
              "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "lr_decay_from": args.lr_decay_from,
              "steps": args.steps}  # fmt: skip

    model = Upscaler(args.channels, args.layers, SCALE).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), LEARNING_RATE)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    parts = {"model": model, "ema": ema, "optimizer": opt}
    step, elapsed, _, _ = load_run(args.run_dir, parts, device)
    if step == 0 and args.resume_state.is_file():  # a new machine: the compact state from the repository
        step, elapsed, _, _ = load_compact(args.resume_state, {"model": model, "ema": ema}, device)
    command = card_command("training.train_upscale", list(argv if argv is not None else sys.argv[1:]))
    shipped = args.out / "training_metrics.json"
    recard = args.export_only and step == 0 and shipped.is_file()
    if recard:  # no run, a shipped model: its card and grids made again (the studio runs it another way)
        ema = Upscaler.from_pretrained(args.out).to(device).eval().requires_grad_(False)
        kept = json.loads(shipped.read_text())
        step, elapsed, recipe, command = kept["steps"], kept["train_minutes"] * 60, kept["recipe"], kept["command"]

    def load_pair(split: str):
        return {
            pair: [emoji_data.load(size, split, data_dir=args.data_dir)["images"] for size in pair] for pair in PAIRS
        }

    every = 698 // 64  # 64 held-out emoji spread over the held-out set, for speed
    heldout = {pair: (s[::every][:64], b[::every][:64]) for pair, (s, b) in load_pair("heldout").items()}

    def finish() -> None:
        metrics = evaluate(ema, heldout)
        print(json.dumps(metrics))
        args.out.mkdir(parents=True, exist_ok=True)
        if not recard:  # a shipped model's weights stay the very file its images' recipes hash
            ema.save_pretrained(args.out)
        meta = {
            "steps": step,
            "train_minutes": round(elapsed / 60, 1),
            "device": str(device),
            "recipe": recipe,
            "metrics": metrics,
            "command": command,
        }
        (args.out / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
        (args.out / "atelier.json").write_text(json.dumps({"task": "upscale", "title": TITLE, "scale": SCALE}) + "\n")
        for (small_size, large_size), (small, large) in heldout.items():
            sample_grid(ema, small[:8], large[:8]).save(args.out / f"heldout-{small_size}to{large_size}.png")
        sizes = studio_grids(ema, args.out) if args.studio_grids else []
        write_upscale_card(args.out, meta, sum(p.numel() for p in ema.parameters()), sizes)

    if args.export_only:
        finish()
        return

    train = {
        pair: [torch.from_numpy(a).permute(0, 3, 1, 2).contiguous() for a in arrays]
        for pair, arrays in load_pair("train").items()
    }
    cached = args.run_dir / "vae64.pt"
    if cached.is_file():
        vae64 = torch.load(cached, weights_only=True)
    else:
        small64 = train[(64, 256)][0]
        vae64 = vae_round_trip(small64.float().div(127.5).sub(1), args.vae, device).add(1).mul(127.5).round().byte()
        torch.save(vae64, cached)

    def save() -> None:
        save_run(args.run_dir, parts, step, elapsed)
        save_compact(args.resume_state, {"model": model, "ema": ema}, step, elapsed, recipe)

    generator = torch.Generator().manual_seed(args.seed + step)
    started = time.time() - elapsed
    bar = tqdm(total=args.steps, initial=step, desc=NAME, dynamic_ncols=True)
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.lr_decay_from, args.steps)
        pair = PAIRS[step % 2]  # the two scales in turn
        small, large = train[pair]
        s, v, b = crops(small, large, vae64 if pair == (64, 256) else None, generator)
        x = degrade(s, v, generator).to(device)
        loss = (model(x) - b.to(device)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - EMA_DECAY)
        step += 1
        elapsed = time.time() - started
        bar.update(1)
        bar.set_postfix(l1=f"{loss.item():.4f}")
        if step % CHECKPOINT_EVERY == 0:
            save()
        if step % SAMPLE_EVERY == 0:
            small, large = heldout[(32, 128)]
            sample_grid(ema, small[:8], large[:8]).save(args.run_dir / f"samples-{step:06d}.png")
            print(json.dumps({"step": step, **evaluate(ema, heldout)}))
        if args.minutes and elapsed > args.minutes * 60:
            break
    bar.close()
    save()
    finish()


if __name__ == "__main__":
    main()
