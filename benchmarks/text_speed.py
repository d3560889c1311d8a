"""Text-to-image speed: the engine against the bare diffusers pipeline call, same process.

    python -m benchmarks.text_speed [--repeats 5] [--model emoji-ldm]

4 images, 20 DPM-Solver++ steps, guidance 4, at the model's size (64x64 for the emoji model).
The engine adds validation, per-seed generators, a step callback and recipes; it should cost
little next to the UNet. Without a bundled text model, the emoji model's architecture is
built with random UNet weights (the real VAE and MiniLM around it): the speed is the same as
trained weights, the pictures are not.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
BATCH, STEPS, GUIDANCE = 4, 20, 4.0
PROMPT = "a sleepy cat with a party hat"


def random_weight_emoji_ldm(folder: Path) -> Path:
    """checkpoints/emoji-ldm's architecture, untrained UNet: what train_ldm.py would export."""
    from diffusers import AutoencoderKL

    from training.train_ldm import build_pipeline, new_unet, text_parts

    torch.manual_seed(0)
    vae = AutoencoderKL.from_pretrained(ROOT / "checkpoints" / "emoji-vae", use_safetensors=True)
    tokenizer, text_encoder = text_parts()
    build_pipeline(new_unet(), vae, tokenizer, text_encoder).save_pretrained(folder / "emoji-ldm-random")
    (folder / "emoji-ldm-random" / "atelier.json").write_text('{"task": "text", "title": "random weights"}')
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=None, help="default: the bundled text model, else random weights")
    args = parser.parse_args()

    engines = create_engines()
    model_id = args.model or (engines.registry.bundled("text") or [None])[0]
    if model_id is None:
        engines = create_engines(Registry(random_weight_emoji_ldm(Path(tempfile.mkdtemp()))))
        model_id = "emoji-ldm-random"
    else:
        model_id = getattr(model_id, "id", model_id)
    loaded, _ = engines.text.load(model_id)
    pipe, size = loaded.model, loaded.defaults["image_size"]

    def bare() -> None:
        generator = torch.Generator("cpu").manual_seed(0)
        pipe(
            [PROMPT] * BATCH,
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            height=size,
            width=size,
            generator=generator,
        )

    def engine() -> None:
        engines.text.draw(PROMPT, "", 0, BATCH, STEPS, GUIDANCE, "model default", model_id, on_step=lambda p: None)

    def engine_without_previews() -> None:
        engines.text.draw(PROMPT, "", 0, BATCH, STEPS, GUIDANCE, "model default", model_id)

    bare_s = median_seconds(bare, args.repeats, warmup=1)
    engine_s = median_seconds(engine, args.repeats, warmup=1)
    quiet_s = median_seconds(engine_without_previews, args.repeats, warmup=1)
    what = (
        f"{BATCH} images {size}×{size}, {STEPS} steps, guidance {GUIDANCE} ({model_id}, {engines.runtime.describe()})"
    )
    report(
        "text_speed",
        [
            {"what": f"bare pipeline call: {what}", "median s": bare_s, "s per image": bare_s / BATCH, "ratio": 1.0},
            {
                "what": "engine.text.draw as the tab calls it (validation, per-seed generators, 4 previews, recipes)",
                "median s": engine_s,
                "s per image": engine_s / BATCH,
                "ratio": engine_s / bare_s,
            },
            {
                "what": "engine.text.draw without a progress callback",
                "median s": quiet_s,
                "s per image": quiet_s / BATCH,
                "ratio": quiet_s / bare_s,
            },
        ],
    )


if __name__ == "__main__":
    main()
