"""Upscale engine: ×4 super-resolution of any image, and the Hires ×4 pass every tab can add.

The bundled `emoji-upscale` (engines/nets/upscale.py, trained by training/train_upscale.py on
emoji rendered small and 4× larger) enlarges 32 px GAN art to 128 px and 64 px text or VAE art to
256 px, cleaning soft edges and colour noise as it goes. Images are enlarged one at a time, so an
image's pixels do not depend on the batch it came in (image i of a grid re-made alone, with
Hires, is the same image). Inputs above MAX_UPSCALE_SIDE are refused: a 512 px input is already
a 2048 px output, several seconds on a CPU.

The same engine runs diffusers' StableDiffusionUpscalePipeline
(`stabilityai/stable-diffusion-x4-upscaler`, or any folder in its layout): a latent diffusion model
that redraws the image at 4×, guided by a prompt and a seed. It is a GPU model (a UNet pass per
step at the output's quarter size); on a CPU a 128 px input takes minutes.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from engines.base import Engine, Loaded, Result, Strip, from_pretrained_fp16, pil_batch, tensor_batch, weights_hash
from engines.errors import InputError
from engines.imaging import load_image
from engines.limits import MAX_UPSCALE_SIDE, check_seed
from engines.registry import ModelSpec, prompted_upscaler
from engines.text import clean_prompt

# The SD ×4 upscaler's settings: its model card's noise level (how much of the input is re-imagined)
# and guidance, with fewer steps than its 75 (DDIM-style sampling changes little past 20-30 here).
PROMPTED_STEPS, PROMPTED_GUIDANCE, PROMPTED_NOISE_LEVEL = 25, 9.0, 20


class PromptedUpscaler:
    """A StableDiffusionUpscalePipeline behind the interface the engine gives our network: `scale`,
    and images in, images 4× out; each image drawn from its own generator, so it does not depend on
    the batch it came in."""

    def __init__(self, pipe: Any):
        self.pipe = pipe
        self.scale = int(pipe.vae_scale_factor)

    def enlarge(self, images: list[Image.Image], prompt: str, seed: int) -> list[Image.Image]:
        out = []
        for image in images:
            generator = torch.Generator(self.pipe.device).manual_seed(seed)
            out += self.pipe(
                prompt=prompt,
                image=image,
                num_inference_steps=PROMPTED_STEPS,
                guidance_scale=PROMPTED_GUIDANCE,
                noise_level=PROMPTED_NOISE_LEVEL,
                generator=generator,
            ).images
        return out


class UpscaleEngine(Engine):
    task = "upscale"

    def load_model(self, spec: ModelSpec) -> Loaded:
        if prompted_upscaler(spec):
            from diffusers import StableDiffusionUpscalePipeline

            pipe = from_pretrained_fp16(StableDiffusionUpscalePipeline, spec, self.runtime).to(self.runtime.device)
            pipe.set_progress_bar_config(disable=True)
            return Loaded(PromptedUpscaler(pipe), spec, self.runtime.dtype, weights_hash(spec))
        from engines.nets.upscale import Upscaler

        model = Upscaler.from_pretrained(spec.location)  # safetensors + config.json, never a pickle
        # channels-last weights: its convolutions run ~8% faster on this CPU (measured on 32 px inputs)
        model = model.to(self.runtime.device, self.runtime.dtype, memory_format=torch.channels_last)
        model = model.eval().requires_grad_(False)
        return Loaded(model, spec, self.runtime.dtype, weights_hash(spec))

    def enlarge(self, loaded: Loaded, images: list[Image.Image], prompt: str = "", seed: int = 0) -> list[Image.Image]:
        if isinstance(loaded.model, PromptedUpscaler):
            return loaded.model.enlarge([image.convert("RGB") for image in images], prompt, seed)
        out = []
        with torch.inference_mode():
            for image in images:
                x = tensor_batch([image.convert("RGB")]).to(self.runtime.device, loaded.dtype)
                out += pil_batch(loaded.model.self_ensemble(x))
        return out

    def upscale(self, image: Any, model_id: str, source: str | None = None, prompt: Any = "", seed: Any = 0) -> Result:
        """An image (a file, or one from the gallery: `source` names it) enlarged ×4; a prompt-guided
        upscaler also takes a prompt and a seed. The recipe keeps the input, so the result can be made
        again."""
        prompt, seed = clean_prompt(prompt), check_seed(seed)
        original = load_image(image)
        if max(original.size) > MAX_UPSCALE_SIDE:
            raise InputError(
                f"the image is {original.width}×{original.height} px; the upscaler takes up to "
                f"{MAX_UPSCALE_SIDE} px a side (×4: {4 * MAX_UPSCALE_SIDE} px)"
            )
        loaded, lock = self.load(model_id)
        with lock:
            (enlarged,) = self.enlarge(loaded, [original], prompt, seed)
        params: dict[str, Any] = {"scale": loaded.model.scale, "size": f"{original.width}x{original.height}"}
        if isinstance(loaded.model, PromptedUpscaler):
            params |= {"prompt": prompt, "seed": seed, "steps": PROMPTED_STEPS}
        if source:
            params["source"] = source
        return Result(enlarged, self.recipe(loaded, "upscale", params), inputs={"image": original})

    def hires(self, made: list[Result] | Strip, model_id: str) -> list[Result] | Strip:
        """Hires ×4: what a tab made (its images, or a strip's frames), enlarged, each recipe saying by
        what (`hires`: upscaler, its hash, scale)."""
        loaded, lock = self.load(model_id)
        stage = {"upscaler": loaded.spec.id, "model_hash": loaded.model_hash, "scale": loaded.model.scale}
        with lock:
            if isinstance(made, Strip):
                return Strip(self.enlarge(loaded, made.frames), made.recipe | {"hires": stage}, made.inputs)
            images = self.enlarge(loaded, [result.image for result in made])
        return [Result(image, r.recipe | {"hires": stage}, r.inputs) for image, r in zip(images, made, strict=True)]
