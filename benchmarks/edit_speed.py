"""Edit tab speed: inpainting against the text tab's draw of the same size, and denoising one image.

    OMP_NUM_THREADS=1 python -m benchmarks.edit_speed [--repeats 5]

Inpainting 4 images at 64×64, 20 steps (guidance 4) through the Edit engine, with each bundled
inpainting model (emoji-inpaint, the Edit tab's default, and the text model emoji-ldm), against the
text engine's draw of 4 images at the same size and steps, in the same process (goal: ≤ 1.2×); the
inpainting pipeline also encodes the image (and, for the text model, re-noises its latent each
step), and the engine puts each fill back (the seamless edge, the default). The seamless edge alone
(a sparse Poisson solve) on 4 fills of a 64 px image and of a 1,024 px one (its largest), a box over
36% of it. Denoising one 64 px image with each denoiser (goal: ≤ 0.2 s).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.edit import seamless

ROOT = Path(__file__).resolve().parent.parent
MODEL, COUNT, STEPS, GUIDANCE = "emoji-ldm", 4, 20, 4.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    engines = create_engines()
    image = Image.open(ROOT / "examples" / "noto-pouting-cat.png").convert("RGB").resize((64, 64))
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 36, 48, 54), fill=255)  # the mouth, 25% of the image

    def draw() -> None:
        engines.text.draw("grinning cat, noto style", "", 0, COUNT, STEPS, GUIDANCE, "model default", MODEL)

    def inpaint(model: str) -> None:
        engines.edit.draw(
            image, mask, "grinning cat, noto style", "", 0, COUNT, STEPS, GUIDANCE, "model default", model
        )

    drawn = median_seconds(draw, args.repeats)
    rows = [{"what": f"text draw, {COUNT} images 64×64, {STEPS} steps", "seconds": round(drawn, 3), "ratio": 1.0}]
    for model in (spec.id for spec in engines.registry.bundled("edit")):  # emoji-inpaint, emoji-ldm
        painted = median_seconds(lambda m=model: inpaint(m), args.repeats)
        what = f"inpaint with {model}, {COUNT} images 64×64, {STEPS} steps"
        rows.append({"what": what, "seconds": round(painted, 3), "ratio": round(painted / drawn, 3)})
    for side in (64, 1024):
        big, hole = image.resize((side, side)), Image.new("L", (side, side), 0)
        ImageDraw.Draw(hole).rectangle((side // 5, side // 5, side * 4 // 5, side * 4 // 5), fill=255)
        fills = [big.rotate(90 * i) for i in range(COUNT)]  # any other pixels: the solve does not look
        seconds = median_seconds(lambda b=big, h=hole, f=fills: seamless(b, f, h), args.repeats)
        what = f"seamless edge, {COUNT} fills of a {side}×{side} image"
        rows.append({"what": what, "seconds": round(seconds, 3), "ratio": ""})
    for denoiser in ("network", "vae", "diffusion"):
        seconds = median_seconds(
            lambda d=denoiser: engines.edit.denoise(image, "gaussian", 0.2, 0, d, 0.3, MODEL), args.repeats
        )
        rows.append({"what": f"denoise one 64×64 image ({denoiser})", "seconds": round(seconds, 3), "ratio": ""})
    report("edit_speed", rows)


if __name__ == "__main__":
    main()
