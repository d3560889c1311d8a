"""How well the Edit tab inpaints and denoises, measured on held-out emoji.

    pip install opencv-python-headless        # the classical baseline (Telea), for this script only
    python -m benchmarks.edit_quality         # table + results/edit_quality.json (~25 CPU min)
    python -m benchmarks.edit_quality --images 64 --steps 10   # a quicker look
    python -m benchmarks.edit_quality --update-cards   # ... and write the tables into the model cards

Inpainting: every held-out emoji (or the first --images of them) gets a mask from a fixed seeded
set (boxes and brush strokes, 10-40% of the image), then is filled by
- ours, through the Edit engine, each prompted with the true emoji's caption and art set
  ("grinning face, noto style") and with an empty prompt: emoji-inpaint (the text model's UNet
  fine-tuned to see the mask, training/train_inpaint.py) and emoji-ldm (the text model itself, its
  known latent re-noised each step outside the mask), each with the Edit tab's defaults for it
  (its atelier.json's steps, guidance and scheduler);
- Telea: OpenCV's classical inpainting (fast marching), the baseline issue 24 names;
- VAE alone: the image with its hole painted white, through the model's VAE (what a reconstruction
  alone puts in a hole).
Ours are put into the image with the Edit tab's default edge (seamless: cloned in, its colours
pulled to meet the image's at the mask's edge) and, for the prompted rows, the soft edge too (faded
in over the engine's blend band); the baselines are faded in over the blend band. Each is measured:
max pixel change beyond the band (the mask contract: 0), PSNR inside the mask against the true
image, feature distance (the feature network's embedding, 1 - cosine, against the true image's),
the Fréchet distance of the filled images against the held-out art (realism, the feature
network's space; the unfilled originals score the floor), and caption retrieval (top-5 among
the held-out captions: does the filled image still read as its emoji).

Denoising: each noise kind at two amounts, added with a fixed seed; PSNR and SSIM against the
clean image of the noisy input and of each denoiser (the trained network, the VAE, diffusion at
strengths 0.2 and 0.4).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from benchmarks.common import report
from benchmarks.quality import Harness, table
from engines import create_engines
from engines.base import tensor_batch
from engines.edit import blend, blend_band, soft_mask
from engines.limits import draw_defaults
from engines.metrics import frechet_distance
from training.model_card import put_section
from training.train_denoise import HELDOUT_NOISES as NOISES  # the denoiser card's settings
from training.train_features import retrieval_accuracy
from training.train_ldm import style_phrase

ROOT = Path(__file__).resolve().parent.parent
MODEL = "emoji-ldm"  # the text model: the VAE-alone baseline's VAE, and the denoisers' model
MASK_SEED = 0
NOISE_SEED = 0
# (name, denoiser, strength): the trained network, the model's VAE, diffusion at two strengths
DENOISERS = [("network", "network", 0.3), ("VAE", "vae", 0.3), ("diffusion 0.2", "diffusion", 0.2)]
DENOISERS += [("diffusion 0.4", "diffusion", 0.4)]


def masks(count: int, side: int = 64, seed: int = MASK_SEED) -> list[Image.Image]:
    """Seeded masks covering 10-40% of the image: boxes (even i) and brush strokes (odd i)."""
    rng = np.random.default_rng(seed)
    made = []
    while len(made) < count:
        mask = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(mask)
        if len(made) % 2 == 0:
            w, h = rng.integers(side // 4, side * 3 // 4, 2)
            x, y = rng.integers(0, side - w), rng.integers(0, side - h)
            draw.rectangle((int(x), int(y), int(x + w), int(y + h)), fill=255)
        else:
            points = [tuple(int(v) for v in rng.integers(8, side - 8, 2))]
            for _ in range(int(rng.integers(2, 5))):
                step = rng.normal(0, side / 4, 2)
                points.append(tuple(int(np.clip(p + s, 4, side - 4)) for p, s in zip(points[-1], step, strict=True)))
            draw.line(points, fill=255, width=int(rng.integers(side // 10, side // 5)), joint="curve")
        if 0.1 <= np.asarray(mask).mean() / 255 <= 0.4:
            made.append(mask)
    return made


def telea(image: Image.Image, mask: Image.Image) -> Image.Image:
    import cv2

    filled = cv2.inpaint(np.asarray(image)[..., ::-1].copy(), np.asarray(mask), 3, cv2.INPAINT_TELEA)
    return Image.fromarray(filled[..., ::-1].copy())


def vae_alone(engines, image: Image.Image, mask: Image.Image) -> Image.Image:
    holed = image.copy()
    holed.paste((255, 255, 255), mask=mask)
    loaded, _ = engines.edit.load(MODEL)
    with torch.inference_mode():
        return engines.edit.reconstruct(loaded, holed)


def inpaint_rows(
    engines, harness: Harness, images: np.ndarray, indices: np.ndarray, steps: int, models: list[str],
    guidance: float | None,
) -> list[dict]:  # fmt: skip
    held = harness.heldout
    # each model at the guidance the Edit tab gives it (its atelier.json's), unless one is asked for
    own = {m: draw_defaults(engines.registry.resolve("edit", m).settings)[1] for m in models}
    scales = own if guidance is None else dict.fromkeys(models, guidance)
    mask_set = masks(len(indices))
    ours = {
        f"{model}, {how} prompt{', soft edge' if edge == 'soft' else ''}": (model, how, edge)
        for model in models
        for how, edge in (("caption", "seamless"), ("caption", "soft"), ("empty", "seamless"))
    }
    methods = [*ours, "Telea (OpenCV)", "VAE alone"]
    filled: dict[str, list[Image.Image]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    contract = dict.fromkeys(methods, 0)
    inside_psnr: dict[str, list[float]] = {m: [] for m in methods}
    for n, (i, mask) in enumerate(zip(indices, mask_set, strict=True)):
        image = Image.fromarray(images[i])
        prompt = f"{held['caption'][i]}, {style_phrase(str(held['style_names'][held['style'][i]]))}"
        weights = soft_mask(mask, blend_band(64))
        beyond = weights == 0
        for method in methods:
            start = time.perf_counter()
            if method in ours:
                model, how, edge = ours[method]
                text = prompt if how == "caption" else ""
                made = engines.edit.draw(
                    image, mask, text, "", n, 1, steps, scales[model], "model default", model, edge
                )  # fmt: skip
                out = made[0].image
            else:
                fill = telea(image, mask) if method.startswith("Telea") else vae_alone(engines, image, mask)
                out = blend(image, fill, weights)
            seconds[method] += time.perf_counter() - start
            a, b = np.asarray(image, dtype=int), np.asarray(out, dtype=int)
            contract[method] = max(contract[method], int(np.abs(a - b)[beyond].max()))
            inside = np.asarray(mask) > 0
            mse = ((a - b)[inside] ** 2).mean() / 255**2
            inside_psnr[method].append(10 * np.log10(1 / max(mse, 1e-10)))
            filled[method].append(out)
    originals = tensor_batch(images[indices])
    real = harness.real_heldout["features"]
    true = harness.encode(originals)
    targets = harness.caption_targets[torch.from_numpy(indices)]
    rows = [
        {
            "method": "originals (no hole)",
            "mask contract (max change beyond the band)": 0,
            "PSNR in the mask": "",
            "feature distance": 0.0,
            "Fréchet distance": round(frechet_distance(true["features"], real), 3),
            "caption top-5": round(retrieval_accuracy(true["embedding"], targets, harness.caption_bank, 5), 3),
            "s per image": "",
        }
    ]
    for method in methods:
        out = harness.encode(tensor_batch(np.stack([np.asarray(im) for im in filled[method]])))
        cosine = torch.nn.functional.cosine_similarity(out["embedding"], true["embedding"]).mean().item()
        rows.append(
            {
                "method": method,
                "mask contract (max change beyond the band)": contract[method],
                "PSNR in the mask": round(float(np.mean(inside_psnr[method])), 2),
                "feature distance": round(1 - cosine, 4),
                "Fréchet distance": round(frechet_distance(out["features"], real), 3),
                "caption top-5": round(retrieval_accuracy(out["embedding"], targets, harness.caption_bank, 5), 3),
                "s per image": round(seconds[method] / len(indices), 3),
            }
        )
    return rows


def denoise_rows(engines, images: np.ndarray, indices: np.ndarray) -> list[dict]:
    rows = []
    for kind, amount in NOISES:
        cells = {"noise": f"{kind} {amount:g}"}
        results = {name: [] for name in ["noisy", *(d[0] for d in DENOISERS)]}
        for n, i in enumerate(indices):
            image = Image.fromarray(images[i])
            for name, denoiser, strength in DENOISERS:
                made = engines.edit.denoise(image, kind, amount, NOISE_SEED + n, denoiser, strength, MODEL)
                results[name].append(made["scores"]["cleaned"])
            results["noisy"].append(made["scores"]["noisy"])
        for name, values in results.items():
            p, s = np.mean(values, axis=0)
            cells[f"{name} PSNR"] = round(float(p), 2)
            cells[f"{name} SSIM"] = round(float(s), 3)
        rows.append(cells)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--images", type=int, default=None,
        help="held-out emoji inpainted (default: all 698, where the Fréchet distance is least biased; 0: none)",
    )  # fmt: skip
    parser.add_argument("--denoise-images", type=int, default=64, help="held-out emoji denoised (0: none)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=None, help="default: each model's own (its atelier.json)")
    parser.add_argument("--models", help="inpainting models to measure, by id (default: every bundled one)")
    parser.add_argument("--update-cards", action="store_true", help="the inpainting models' cards, emoji-denoise's")
    args = parser.parse_args()
    torch.manual_seed(0)
    engines = create_engines()
    models = args.models.split(",") if args.models else [spec.id for spec in engines.registry.bundled("edit")]
    harness = Harness(engines, samples=64)
    images = harness.heldout["images"]
    picks = np.random.default_rng(MASK_SEED).permutation(len(images))
    inpainted = denoised = []
    count = len(images) if args.images is None else args.images
    if count:
        indices = np.sort(picks[:count])
        inpainted = inpaint_rows(engines, harness, images, indices, args.steps, models, args.guidance)
        report("edit_inpaint", inpainted)
    if args.denoise_images:
        denoised = denoise_rows(engines, images, np.sort(picks[: args.denoise_images]))
        report("edit_denoise", denoised)
    if args.update_cards:
        command = "python -m benchmarks.edit_quality " + shlex.join(sys.argv[1:])
        inpainting = f"Inpainting ({count} held-out emoji, seeded masks of 10–40%)"
        for model, title, rows in (
            *((model, inpainting, inpainted) for model in models),
            ("emoji-denoise", f"Denoising ({args.denoise_images} held-out emoji; PSNR dB, SSIM)", denoised),
        ):
            card = ROOT / "checkpoints" / model / "README.md"
            if rows and card.is_file():
                put_section(card, "edit", [f"## {title}", "", *table(rows, tuple(rows[0])), "", f"`{command}`"])


if __name__ == "__main__":
    main()
