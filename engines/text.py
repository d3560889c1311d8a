"""Text engine: prompts -> images with any diffusers text-to-image pipeline.

The bundled emoji model is a stock StableDiffusionPipeline folder (training/train_ldm.py), so it
loads through the same `AutoPipelineForText2Image.from_pretrained` as SD-Turbo, SDXL-Turbo or
any other hub pipeline. Seeds follow the contract: image i of a batch comes from a CPU
generator seeded seed + i. A run reports each step (with a preview when latents are small
enough to decode cheaply) and can be stopped between steps; a stopped run returns no images,
so nothing half-made reaches the gallery.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from engines.base import Engine, Loaded, Result, from_pretrained_fp16, pil_batch, weights_hash
from engines.errors import InputError
from engines.limits import (
    DEFAULT_SCHEDULER,
    MAX_DRAW,
    MAX_GUIDANCE,
    MAX_PROMPT_CHARS,
    MAX_STEPS,
    SCHEDULERS,
    check_float,
    check_int,
    check_seed,
    draw_defaults,
)
from engines.registry import ModelSpec
from engines.runtime import Runtime

PREVIEW_MAX_LATENT_SIDE = 32  # decode previews only when that is cheap (the bundled 16x16 latents)
PREVIEWS_PER_RUN = 4  # a decode per step would add ~45% to a 20-step CPU run; four add under 10%


@dataclass
class LoadedPipeline(Loaded):
    defaults: dict[str, Any]  # steps, guidance_scale, image_size
    default_scheduler: Any = None  # the scheduler the pipeline was saved with


@dataclass
class Progress:
    step: int
    total: int
    preview: list[Image.Image] = field(default_factory=list)  # empty when previews are too costly


def clean_prompt(prompt: Any, name: str = "prompt") -> str:
    """Prompts as sent by anyone: None is empty, control characters go (newlines become spaces)."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise InputError(f"{name} must be text")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(
            f"{name} is {len(prompt):,} characters; keep it under {MAX_PROMPT_CHARS:,} "
            "(the text encoder reads only its first few dozen words anyway)"
        )
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in prompt)
    return " ".join(text.split())


def load_pipeline(spec: ModelSpec, runtime: Runtime, auto_class: str = "AutoPipelineForText2Image") -> LoadedPipeline:
    """A diffusers pipeline for `spec` through one of diffusers' auto classes (text-to-image, or
    inpainting for the Edit tab: our text model's folder loads as either)."""
    import diffusers

    pipe = from_pretrained_fp16(getattr(diffusers, auto_class), spec, runtime)
    if os.environ.get("ATELIER_CPU_OFFLOAD", "").lower() in ("1", "true", "yes") and runtime.device.type == "cuda":
        pipe.enable_model_cpu_offload(device=runtime.device)  # for GPUs short of memory: slower, much smaller
    else:
        pipe.to(runtime.device)
    pipe.set_progress_bar_config(disable=True)
    if spec.settings.get("scheduler", DEFAULT_SCHEDULER) != DEFAULT_SCHEDULER:  # one its atelier.json names
        pipe.scheduler = named_scheduler(pipe.scheduler, spec.settings["scheduler"])
    # fp16 NaNs: SDXL's VAE config says force_upcast, and the SDXL pipeline then decodes in fp32.
    steps, guidance = draw_defaults(spec.settings)
    settings = {"steps": steps, "guidance_scale": guidance, "image_size": spec.settings.get("image_size")}
    if not settings["image_size"]:
        scale = getattr(pipe, "vae_scale_factor", 8)
        settings["image_size"] = int(pipe.unet.config.sample_size * scale) if hasattr(pipe, "unet") else 512
    return LoadedPipeline(pipe, spec, runtime.dtype, weights_hash(spec), settings, pipe.scheduler)


def load_from_text_pipeline(
    engine: Engine, spec: ModelSpec, auto_class: str, fine_tune: ModelSpec | None = None
) -> LoadedPipeline:
    """A pipeline of another kind (diffusers' `auto_class`: inpainting, image-to-image) for a text model,
    made with `from_pipe` from the text engine's cached pipeline of it: the same modules in memory, not a
    second copy. It gets a scheduler of its own: a scheduler keeps state while it runs, and the text tab
    may be drawing meanwhile. `fine_tune`: a checkpoint holding only a UNet trained from this text
    model (emoji-inpaint, whose atelier.json names the text model as its "base"), which replaces its UNet;
    the result is then that checkpoint's, hashed over both."""
    import diffusers

    text_key = (spec.id, "text", *engine.cache_key(spec)[2:])  # what TextEngine caches it as
    text = engine.cache.get(text_key, lambda: load_pipeline(replace(spec, task="text"), engine.runtime)).model
    parts, owner, model_hash, defaults = {}, spec, text.model_hash, dict(text.defaults)
    if fine_tune is not None:
        unet = diffusers.UNet2DConditionModel.from_pretrained(
            os.path.join(fine_tune.location, "unet"), dtype=text.dtype, use_safetensors=True
        )
        parts["unet"] = unet.to(engine.runtime.device).eval().requires_grad_(False)
        owner, model_hash = fine_tune, f"{weights_hash(fine_tune)}+{text.model_hash}"
        steps, guidance = draw_defaults(fine_tune.settings)
        defaults |= {"steps": steps, "guidance_scale": guidance}
    pipe = getattr(diffusers, auto_class).from_pipe(text.model, **parts)
    # its own scheduler, of the kind its atelier.json names (emoji-inpaint: Euler a), else the text model's
    pipe.scheduler = named_scheduler(text.default_scheduler, owner.settings.get("scheduler", DEFAULT_SCHEDULER))
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(pipe, owner, text.dtype, model_hash, defaults, pipe.scheduler)


class TextEngine(Engine):
    task = "text"

    def load_model(self, spec: ModelSpec) -> LoadedPipeline:
        return load_pipeline(spec, self.runtime)

    def defaults(self, model_id: str) -> dict[str, Any]:
        loaded, _ = self.load(model_id)
        return dict(loaded.defaults)

    def draw(
        self,
        prompt: Any,
        negative_prompt: Any,
        seed: Any,
        count: Any,
        steps: Any,
        guidance_scale: Any,
        scheduler: Any,
        model_id: str,
        on_step: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """`count` images for a prompt (image i from seed + i); [] if `stop` was set before the last step."""
        prompt, negative, seed, count, steps, guidance, scheduler = check_draw(
            prompt, negative_prompt, seed, count, steps, guidance_scale, scheduler
        )
        loaded, lock = self.load(model_id)
        pipe, size = loaded.model, loaded.defaults["image_size"]
        with lock, torch.inference_mode():
            pipe.scheduler = scheduler_for(loaded, scheduler)
            images = run_draw(
                pipe, prompt, negative, seed, count, steps, guidance, on_step, stop, height=size, width=size
            )
        if images is None:
            return []
        params = {
            "batch_seed": seed,
            "count": count,
            "steps": steps,
            "guidance_scale": guidance,
            "scheduler": scheduler,
            "sampler": sampler_name(pipe.scheduler),
            "size": f"{size}x{size}",
        }
        recipes = [
            self.recipe(
                loaded, "text_to_image", {**params, "index": i}, seed + i, prompt=prompt, negative_prompt=negative
            )
            for i in range(count)
        ]
        return [Result(image, recipe) for image, recipe in zip(images, recipes, strict=True)]


def run_draw(
    pipe: Any,
    prompt: str,
    negative: str,
    seed: int,
    count: int,
    steps: int,
    guidance: float,
    on_step: Callable[[Progress], None] | None,
    stop: threading.Event | None,
    reported_steps: int | None = None,
    **inputs: Any,
) -> list[Image.Image] | None:
    """One diffusion draw as every tab runs it: `count` images of a prompt (image i from a CPU generator
    seeded seed + i), the negative prompt only where guidance uses it, each step reported (out of
    `reported_steps`: the steps that run, when a strength skips some), Stop honoured; `inputs` are the
    pipeline's own (size, image, mask, strength). The images, or None if `stop` was set before the end."""
    output = pipe(
        prompt=[prompt] * count,
        negative_prompt=[negative] * count if negative and guidance > 1 else None,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(count)],
        callback_on_step_end=step_callback(reported_steps or steps, on_step, stop),
        output_type="pil",
        **inputs,
    )
    return None if stop is not None and stop.is_set() else output.images


def check_draw(
    prompt: Any, negative_prompt: Any, seed: Any, count: Any, steps: Any, guidance_scale: Any, scheduler: Any
) -> tuple[str, str, int, int, int, float, str]:
    """A diffusion draw's settings as sent -> checked (prompt, negative, seed, count, steps, guidance,
    scheduler), or InputError: what the text and Edit tabs' draws share."""
    prompt, negative = clean_prompt(prompt), clean_prompt(negative_prompt, "negative prompt")
    count = check_int("images", count, 1, MAX_DRAW)
    seed = check_seed(seed, count)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    guidance = check_float("guidance scale", guidance_scale, 0.0, MAX_GUIDANCE)
    scheduler = scheduler or DEFAULT_SCHEDULER
    if scheduler != DEFAULT_SCHEDULER and scheduler not in SCHEDULERS:
        raise InputError(f"unknown scheduler {str(scheduler)[:80]!r}: use one of {', '.join(SCHEDULERS)}")
    return prompt, negative, seed, count, steps, guidance, scheduler


def scheduler_for(loaded: LoadedPipeline, name: str) -> Any:
    """The scheduler named in our list, configured as the pipeline's own ("model default": that one)."""
    if name == DEFAULT_SCHEDULER:
        return loaded.default_scheduler
    return named_scheduler(loaded.default_scheduler, name)


def named_scheduler(scheduler: Any, name: str) -> Any:
    """A new scheduler of the kind named in our list ("model default": of `scheduler`'s kind), with
    `scheduler`'s noise schedule (its config)."""
    if name == DEFAULT_SCHEDULER:
        return type(scheduler).from_config(scheduler.config)
    import diffusers

    class_name, options = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(scheduler.config, **options)


def step_callback(steps: int, on_step: Callable[[Progress], None] | None, stop: threading.Event | None):
    """A pipeline's `callback_on_step_end`: report each step (a few with decoded previews, when the
    latents are small enough to decode cheaply), and end the draw at the next step once `stop` is set."""

    def callback(pipeline: Any, i: int, t: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if stop is not None and stop.is_set():
            pipeline._interrupt = True  # the pipeline skips the remaining steps
        if on_step is not None:
            latents = tensors["latents"]
            preview = []
            every = max(1, round(steps / PREVIEWS_PER_RUN))
            small = max(latents.shape[-2:]) <= PREVIEW_MAX_LATENT_SIDE
            if small and (i + 1) % every == 0 and i + 1 < steps:
                scaled = latents / pipeline.vae.config.scaling_factor
                preview = pil_batch(pipeline.vae.decode(scaled.to(pipeline.vae.dtype)).sample)
            on_step(Progress(i + 1, steps, preview))
        return {}

    return callback


def sampler_name(scheduler: Any) -> str:
    """The scheduler a run used, by its name in our list ("DPM-Solver++") or else its class name: what
    "model default" turned out to be, for the PNG's Sampler field."""
    config = getattr(scheduler, "config", {})
    for name, (class_name, options) in SCHEDULERS.items():
        if type(scheduler).__name__ == class_name and all(config.get(k) == v for k, v in options.items()):
            return name
    return type(scheduler).__name__
