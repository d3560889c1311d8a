"""Reconstruction latency per image: the engine against a bare AutoencoderKL forward, same process.

    python -m benchmarks.vae_latency [--repeats 30]

The engine's extra work (decode the upload, resize, scores, difference map, recipe) should
cost little next to the network itself. The gallery write is measured separately.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.common import median_seconds, report
from engines import create_engines
from engines.vae import decode, encode, pil_to_tensor

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--model", default=None, help="default: the bundled VAE")
    args = parser.parse_args()

    engines = create_engines()
    model_id = args.model or engines.registry.default("vae").id
    example = str(sorted((ROOT / "examples").glob("*.png"))[0])
    loaded, _ = engines.vae.load(model_id)
    x = pil_to_tensor(engines.vae.prepare(loaded, example)).to(engines.runtime.device, loaded.dtype)

    def bare() -> None:
        with torch.inference_mode():
            decode(loaded.model, encode(loaded.model, x))

    def engine() -> None:
        engines.vae.reconstruct(example, model_id)

    from gallery import Gallery

    gallery = Gallery(Path(tempfile.mkdtemp()) / "g")
    result = engines.vae.reconstruct(example, model_id)

    def save() -> None:
        gallery.add(result.reconstruction, result.recipe, inputs={"image": result.original})

    bare_s = median_seconds(bare, args.repeats)
    engine_s = median_seconds(engine, args.repeats)
    save_s = median_seconds(save, args.repeats)
    report(
        "vae_latency",
        [
            {
                "what": f"bare AutoencoderKL encode+decode ({model_id}, 1 image)",
                "median ms": bare_s * 1000,
                "ratio": 1.0,
            },
            {
                "what": "engine.reconstruct (file → images + scores + recipe)",
                "median ms": engine_s * 1000,
                "ratio": engine_s / bare_s,
            },
            {
                "what": "gallery.add (PNG + metadata + index, fsync)",
                "median ms": save_s * 1000,
                "ratio": save_s / bare_s,
            },
        ],
    )


if __name__ == "__main__":
    main()
