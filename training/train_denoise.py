"""Train the Edit tab's denoiser on the emoji set: clean art, and the same art with noise added.

    python -m training.data --size 64
    python -m training.train_denoise     # 16,000 steps, ~45 min on one CPU core; writes checkpoints/emoji-denoise

The network is the upscaler's residual body at scale 1 (engines/nets/upscale.py: every convolution
at the image's size, the output added to the input, so it learns only the noise to take away).
Each training image (64 px, train split, flipped at random) gets one kind of seeded noise at a
random amount, the kinds and amounts the Edit tab adds (engines/edit.py's `add_noise`): Gaussian,
JPEG, salt and pepper; one in ten stays clean, so clean art comes back unchanged. The network sees
a 32 px crop of it. Loss: L1.
Why train one: the emoji VAE's reconstruction caps what comes back at its own ~25 dB, and the text
model's image-to-image at a low strength repaints the image (benchmarks/edit_quality.py).
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
from engines.edit import add_noise
from engines.imaging import image_grid
from engines.limits import EDIT_NOISES
from engines.metrics import psnr, ssim
from engines.nets.upscale import Upscaler
from training import data as emoji_data
from training.run_state import card_command, choose_device

# ---- config -------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
NAME = "emoji-denoise"
TITLE = "Emoji denoiser (Gaussian, JPEG, salt & pepper; 64 px)"
CHANNELS, LAYERS = 48, 10
BATCH_SIZE = 16
PATCH = 32  # training crops of the 64 px art (the network is fully convolutional)
LEARNING_RATE = 5e-4
EMA_DECAY = 0.999
CLEAN_SHARE = 0.1
MAX_AMOUNT = 0.6  # noise amounts drawn up to this (the tab's slider goes to 1: σ half the range, art lost)
KINDS = [kind for kind in EDIT_NOISES if kind != "none"]
# the held-out figures' noise settings (benchmarks/edit_quality.py measures these too)
HELDOUT_NOISES = [("gaussian", 0.1), ("gaussian", 0.25), ("jpeg", 0.6), ("jpeg", 0.9), ("salt & pepper", 0.05)]
HELDOUT_NOISES += [("salt & pepper", 0.2)]


def noisy_batch(images: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) PATCH-px crops in [-1, 1]: a random kind and amount of noise per whole image (some
    left clean), then a crop at a multiple of 8 px, so JPEG's 8×8 blocks sit where they would."""
    noisy, clean = [], []
    for image in images:
        picture = Image.fromarray(image)
        if rng.random() >= CLEAN_SHARE:
            kind, amount = KINDS[rng.integers(len(KINDS))], float(rng.uniform(0.02, MAX_AMOUNT))
            picture = add_noise(picture, kind, amount, int(rng.integers(2**31)))
        y, x = (int(v) * 8 for v in rng.integers(0, (image.shape[0] - PATCH) // 8 + 1, 2))
        noisy.append(np.asarray(picture)[y : y + PATCH, x : x + PATCH])
        clean.append(image[y : y + PATCH, x : x + PATCH])
    return tensor_batch(np.stack(noisy)), tensor_batch(np.stack(clean))


def evaluate(model, images: np.ndarray) -> dict[str, float]:
    """Held-out PSNR and SSIM (noisy, then cleaned) for each of the held-out noise settings."""
    scores = {}
    model.eval()
    clean = tensor_batch(images)
    with torch.inference_mode():
        for kind, amount in HELDOUT_NOISES:
            noisy = tensor_batch(
                np.stack([np.asarray(add_noise(Image.fromarray(im), kind, amount, i)) for i, im in enumerate(images)])
            )
            cleaned = model(noisy).clamp(-1, 1)
            key = f"{kind} {amount:g}"
            for name, x in (("noisy", noisy), ("ours", cleaned)):
                scores[f"{key} {name} PSNR"] = round(psnr((x + 1) / 2, (clean + 1) / 2).mean().item(), 2)
                scores[f"{key} {name} SSIM"] = round(ssim((x + 1) / 2, (clean + 1) / 2).mean().item(), 4)
    model.train()
    return scores


def sample_grid(model, images: np.ndarray) -> Image.Image:
    """Rows of (noisy · cleaned · clean) for held-out emoji, one noise setting per row."""
    cells = []
    model.eval()
    with torch.inference_mode():
        for (kind, amount), image in zip(HELDOUT_NOISES, images, strict=False):
            noisy = add_noise(Image.fromarray(image), kind, amount, 0)
            cleaned = pil_batch(model(tensor_batch([noisy])))[0]
            cells += [noisy, cleaned, Image.fromarray(image)]
    model.train()
    grid = image_grid(cells, columns=3)
    return grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST)


def learning_rate(step: int, steps: int) -> float:
    return LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * step / steps))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / NAME)
    parser.add_argument("--data-dir", type=Path, default=emoji_data.DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = choose_device()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = emoji_data.load(64, "train", data_dir=args.data_dir)["images"]
    heldout = emoji_data.load(64, "heldout", data_dir=args.data_dir)["images"]
    heldout = heldout[:: len(heldout) // 64][:64]
    model = Upscaler(CHANNELS, LAYERS, scale=1).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), LEARNING_RATE)
    start = time.time()
    for step in tqdm(range(args.steps), desc=NAME):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps)
        picks = rng.integers(len(train), size=BATCH_SIZE)
        batch = train[picks]
        flips = rng.random(BATCH_SIZE) < 0.5
        batch = np.where(flips[:, None, None, None], batch[:, :, ::-1], batch)
        noisy, clean = noisy_batch(batch, rng)
        loss = F.l1_loss(model(noisy.to(device)), clean.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), model.parameters(), strict=True):
                e.lerp_(p, 1 - EMA_DECAY)
    metrics = evaluate(ema.cpu(), heldout)
    print(json.dumps(metrics, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    ema.save_pretrained(args.out)
    meta = {
        "steps": args.steps,
        "train_minutes": round((time.time() - start) / 60, 1),
        "device": str(device),
        "recipe": {
            "patch": PATCH,
            "channels": CHANNELS,
            "layers": LAYERS,
            "batch_size": BATCH_SIZE,
            "learning_rate": LEARNING_RATE,
            "clean_share": CLEAN_SHARE,
            "max_amount": MAX_AMOUNT,
        },
        "metrics": metrics,
        "command": card_command("training.train_denoise", list(argv if argv is not None else sys.argv[1:])),
    }
    (args.out / "training_metrics.json").write_text(json.dumps(meta, indent=2) + "\n")
    (args.out / "atelier.json").write_text(json.dumps({"task": "denoise", "title": TITLE}) + "\n")
    sample_grid(ema, heldout[:: len(heldout) // len(HELDOUT_NOISES)]).save(args.out / "heldout.png")
    write_card(args.out, meta, sum(p.numel() for p in ema.parameters()))


def write_card(out_dir: Path, meta: dict, parameters: int) -> None:
    from training.model_card import write_card as card

    m = meta["metrics"]
    figures = {
        f"held-out PSNR, {kind} {amount:g} (64 emoji)": (
            f"noisy {m[f'{kind} {amount:g} noisy PSNR']:.2f} dB → **{m[f'{kind} {amount:g} ours PSNR']:.2f} dB** "
            f"(SSIM {m[f'{kind} {amount:g} noisy SSIM']:.3f} → {m[f'{kind} {amount:g} ours SSIM']:.3f})"
        )
        for kind, amount in HELDOUT_NOISES
    }
    figures["network"] = f"{parameters / 1e3:.0f}k parameters: {CHANNELS} channels, {LAYERS} layers, residual"
    figures["training"] = (
        f"{meta['steps']:,} steps × batch {BATCH_SIZE} ({PATCH} px crops), {meta['train_minutes']} min on "
        f"{meta['device']}"
    )
    summary = (
        "The Edit tab's denoiser: it takes Gaussian noise, JPEG blocks and salt-and-pepper specks out of emoji-like "
        "art. The upscaler's compact residual network at scale 1 (every convolution at the image's size, the "
        "output added to the input), trained on the emoji set's 64 px art with a random kind and amount of "
        "noise per image (one in ten left clean). Loss: L1."
    )
    card(
        out_dir,
        title=TITLE,
        summary=summary,
        figures=figures,
        command=f"python -m training.data --size 64\n{meta['command']}",
        grids={"held-out emoji, one noise setting a row: noisy · cleaned · the clean art": "heldout.png"},
        tags=("denoising", "image-restoration"),
    )


if __name__ == "__main__":
    main()
