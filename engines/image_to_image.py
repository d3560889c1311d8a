"""Image-to-image engine: an image redrawn by a text model, as a prompt says (SDEdit).

The image's latent is noised `strength` of the way (0: untouched, 1: pure noise, a new image) and
the text model denoises it from there with the prompt (Meng et al. 2021, SDEdit; diffusers'
img2img pipelines). The bundled emoji-ldm and the hub's SD-Turbo / SDXL-Turbo run through the same
`AutoPipelineForImage2Image`, made with `from_pipe` from the text engine's pipeline: the same
modules in memory (no second copy of the UNet), with a scheduler of its own (a scheduler keeps
state while it runs, and the text tab may be drawing meanwhile).

Size policy: the image is padded to a square with white and resized to the model's size (64 px for
the emoji model, 512 px for the Turbo models); the result is cut back to the image's shape at that
size. Image i of a draw comes from seed + i, as in the text tab.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import torch

from engines.base import Engine, Result
from engines.imaging import load_image, to_square
from engines.limits import check_float
from engines.registry import ModelSpec
from engines.text import LoadedPipeline, Progress, check_draw, load_from_text_pipeline, run_draw, sampler_name

MIN_STRENGTH = 0.05  # below it, no step runs at the model's steps


class ImageToImageEngine(Engine):
    task = "image_to_image"

    def load_model(self, spec: ModelSpec) -> LoadedPipeline:
        return load_from_text_pipeline(self, spec, "AutoPipelineForImage2Image")

    def draw(
        self,
        image: Any,
        prompt: Any,
        negative_prompt: Any,
        strength: Any,
        seed: Any,
        count: Any,
        steps: Any,
        guidance_scale: Any,
        model_id: str,
        on_step: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """`count` redrawings of an image as the prompt says (image i from seed + i), the image's latent
        noised `strength` of the way first; [] if `stop` was set before the last step."""
        original = load_image(image)  # any size the VAE tab takes: it is shrunk to the model's
        strength = check_float("strength", strength, MIN_STRENGTH, 1.0)
        prompt, negative, seed, count, steps, guidance, _ = check_draw(
            prompt, negative_prompt, seed, count, steps, guidance_scale, None
        )
        loaded, lock = self.load(model_id)
        side = loaded.defaults["image_size"]
        square, box = to_square(original, side)
        # the pipeline runs int(steps × strength) of its steps: at least one must run
        steps = max(steps, math.ceil(1 / strength))
        runs = int(steps * strength)
        pipe = loaded.model
        with lock, torch.inference_mode():
            pipe.scheduler = loaded.default_scheduler
            images = run_draw(
                pipe, prompt, negative, seed, count, steps, guidance, on_step, stop, runs,
                image=[square] * count,  # image i is encoded with generator i, as it is when made alone
                strength=strength,
            )  # fmt: skip
        if images is None:
            return []
        params = {
            "batch_seed": seed,
            "count": count,
            "strength": strength,
            "steps": steps,
            "guidance_scale": guidance,
            "sampler": sampler_name(pipe.scheduler),
            "size": f"{original.width}x{original.height}",
        }
        return [
            Result(
                drawn.crop(box),
                self.recipe(
                    loaded, "image_to_image", {**params, "index": i}, seed + i, prompt=prompt, negative_prompt=negative
                ),
                inputs={"image": original},
            )
            for i, drawn in enumerate(images)
        ]
