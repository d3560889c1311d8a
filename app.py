"""Atelier: an image-generation studio for artists. The Gradio page: layout, wiring, messages.

    python app.py                          # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080

Handlers read as: validate -> engine -> gallery -> images. Models live in engines/,
persistence in gallery/; nothing here touches torch.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import logging
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from engines import Engines, create_engines, preload, zerogpu
from engines.errors import InputError, ModelUnavailable
from engines.gan import MAX_FRAMES, MAX_GRID, MAX_PSI
from engines.imaging import image_grid, save_gif, upscale_for_display
from engines.runtime import MAX_SEED, check_int
from engines.text import DEFAULT_SCHEDULER, MAX_BATCH, MAX_GUIDANCE, MAX_STEPS, SCHEDULERS
from engines.vae import MAX_INTERPOLATION_STEPS, MAX_SAMPLES
from gallery import Entry, Gallery

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
GALLERY_PAGE_SIZE = 24
HISTORY_ROWS = 10
MAX_SWEEP = 16
DISPLAY_SIDE = 256  # small model outputs are upscaled (nearest) to at least this for viewing
log = logging.getLogger("atelier")

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; object-fit: contain !important; max-height: 100%; }
#recipe textarea { font-family: ui-monospace, monospace; font-size: 12px; }
/* galleries grow with their images instead of reserving 450 px for one row */
.pixelated .grid-wrap.fixed-height { min-height: 0; height: auto; max-height: none; }
/* the class grid's captions are class names ("Smileys & Emotion"): room for them at 8 columns */
#conditional-classes .caption-label {
  max-width: calc(100% - 2 * var(--block-label-margin)); font-size: 12px; padding: 1px 5px;
}
"""


class UploadedImage(gr.Image):
    """An image input that hands the server-side path to the engine unopened.

    gr.Image decodes uploads with PIL before the handler runs, so a non-image, a truncated
    file or a decompression bomb would fail there with PIL's words. Here the engine's
    `load_image` does all the checks and says what is wrong.
    """

    is_template = True  # render with gr.Image's frontend, as Gradio's own ClearButton does for Button

    def preprocess(self, payload: Any) -> str | None:
        if payload is None:
            return None
        if getattr(payload, "path", None):
            return str(payload.path)
        try:  # data: URLs (clipboard, webcam)
            return super().preprocess(payload)
        except Exception as error:
            raise gr.Error(f"could not read the pasted image: {error}") from None


def as_user_error(fn_name: str, error: Exception) -> gr.Error:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, (InputError, ModelUnavailable)):
        return gr.Error(str(error))
    log.error("unexpected error in %s", fn_name, exc_info=error)
    return gr.Error(f"Something went wrong ({type(error).__name__}); details are in the server log.")


def user_errors(fn):
    """Bad input and unavailable models become a clear message in the page; bugs are logged.
    Works for plain handlers and for generators (handlers that stream progress)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def streaming(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                raise as_user_error(fn.__name__, error) from None

        return streaming

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise as_user_error(fn.__name__, error) from None

    return wrapper


def display(image: Image.Image) -> Image.Image:
    return upscale_for_display(image, DISPLAY_SIDE)


def model_choices(engines: Engines, task: str) -> list[tuple[str, str]]:
    return [(spec.label, spec.id) for spec in engines.registry.models(task)]


def default_model(engines: Engines, task: str) -> str | None:
    spec = engines.registry.default(task)
    return spec.id if spec else None


def grid_caption(recipe: dict[str, Any]) -> str:
    if recipe.get("engine") == "text":
        return f"seed {recipe['seed']}"
    if recipe.get("operation") == "class_grid":  # the row's class in full; a column is one seed in every row
        return recipe["label"]
    if recipe.get("label"):  # a class (conditional GAN, DiT), in words
        return f"{recipe['label']} · seed {recipe['seed']}"
    if recipe.get("operation") == "variation":
        return f"seed {recipe['seed']} · variation {recipe['params']['index'] + 1}"
    return f"seed {recipe['seed']}"


def example_images() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))


class Studio:
    """The handlers behind the page; each one is also a named API endpoint or a gallery action."""

    def __init__(self, engines: Engines, gallery: Gallery):
        self.engines, self.gallery = engines, gallery
        self.scratch = Path(tempfile.mkdtemp(prefix="atelier-"))  # GIFs and strips for display only
        self._stops: dict[str, threading.Event] = {}
        self._stops_lock = threading.Lock()
        self.engines_key = zerogpu.register(engines)

    def engine(self, task: str, method: str, *args: Any) -> Any:
        """`engines.<task>.<method>(*args)`: on a ZeroGPU Space, in a GPU worker (engines/zerogpu.py)."""
        return zerogpu.run(self.engines_key, task, method, *args)

    # ---- VAE tab --------------------------------------------------------------------------
    @user_errors
    def vae_reconstruct(self, image: str | None, model: str):
        """Encode and decode an image; returns original, reconstruction, difference map and scores."""
        if not image:
            raise InputError("upload an image, or click one of the examples")
        result = self.engine("vae", "reconstruct", image, model)
        entry = self.gallery.add(result.reconstruction, result.recipe, inputs={"image": result.original})
        scores = (
            f"**PSNR** {result.psnr:.2f} dB · **SSIM** {result.ssim:.4f} · "
            f"{result.original.width}×{result.original.height} px · saved as `{entry.id}`"
        )
        return display(result.original), display(result.reconstruction), display(result.heatmap), scores

    @user_errors
    def vae_interpolate(self, image_a: str | None, image_b: str | None, steps: float, model: str):
        """Walk the latent space from image A to image B; returns a strip (PNG) and an animated GIF."""
        if not image_a or not image_b:
            raise InputError("upload two images (A and B) to interpolate between")
        result = self.engine("vae", "interpolate", image_a, image_b, steps, model)
        return self.save_strip(result.frames, result.recipe, {"image_a": result.inputs[0], "image_b": result.inputs[1]})

    @user_errors
    def vae_sample(self, seed: float, count: float, model: str):
        """Decode latents drawn from the model's prior; image i uses seed + i."""
        return self.save_all(self.engine("vae", "sample", seed, count, model))

    # ---- GAN tab --------------------------------------------------------------------------
    def save_all(self, results) -> list[tuple[str, str]]:
        """Save every image (only once all were made) and return (path, caption) pairs for a gr.Gallery."""
        entries = [self.gallery.add(r.image, r.recipe) for r in results]
        return [(str(e.path), grid_caption(e.recipe)) for e in entries]

    @user_errors
    def gan_sample(self, seed: float, count: float, psi: float, model: str):
        """A grid of new images: image i uses seed + i, truncated by psi."""
        return self.save_all(self.engine("gan", "sample", seed, count, psi, model))

    @user_errors
    def gan_variations(self, seed: float, psi: float, strength: float, count: float, variation_seed: float, model: str):
        """Variations around the image of `seed`: its latent plus noise of the given strength."""
        return self.save_all(self.engine("gan", "variations", seed, psi, strength, count, variation_seed, model))

    @user_errors
    def gan_interpolate(self, seed_a: float, seed_b: float, frames: float, psi: float, model: str):
        """A spherical walk from seed A to seed B; returns a strip (PNG) and an animated GIF."""
        walk = self.engine("gan", "interpolate", seed_a, seed_b, frames, psi, model)
        return self.save_strip(walk.frames, walk.recipe)

    def save_strip(self, frames: list[Image.Image], recipe: dict[str, Any], inputs: dict | None = None):
        """Frames -> a strip saved to the gallery, plus a display-size GIF; returns both paths."""
        entry = self.gallery.add(image_grid(frames, columns=len(frames), pad=0), recipe, inputs=inputs)
        gif = save_gif([display(f) for f in frames], self.scratch / f"{entry.id}.gif")
        return str(entry.path), str(gif)

    # ---- class-conditional tab ------------------------------------------------------------
    def conditional_labels(self, model: str, first: Any, second: Any) -> dict[str, Any]:
        """The pickers' values by the model's label sets, in order (category, style for the emoji model)."""
        label_sets = list(self.engines.conditional.label_names(model))
        return dict(zip(label_sets, (first, second), strict=False))

    @user_errors
    def conditional_sample(self, first: str, second: str, seed: float, count: float, psi: float, model: str):
        """A grid of the chosen classes (category and style by name, or "any"); image i uses seed + i."""
        labels = self.conditional_labels(model, first, second)
        return self.save_all(self.engine("conditional", "sample", labels, seed, count, psi, model))

    @user_errors
    def conditional_class_grid(self, seed: float, seeds: float, psi: float, model: str):
        """One seed, every class: a row per category, then per style, the same noise in every row."""
        rows = self.engine("conditional", "class_grid", seed, seeds, psi, model)
        return self.save_all([g for row in rows for g in row])

    @user_errors
    def conditional_morph(
        self, label_set: str, start: str, end: str, first: str, second: str, seed: float, frames: float, psi, model
    ):
        """Morph one label (e.g. category) from one class to another at a fixed seed; a strip and a GIF."""
        labels = self.conditional_labels(model, first, second)
        walk = self.engine("conditional", "morph", label_set, start, end, labels, seed, frames, psi, model)
        return self.save_strip(walk.frames, walk.recipe)

    @user_errors
    def dit_sample(
        self,
        label: str,
        seed: float,
        batch: float,
        steps: float,
        guidance_scale: float,
        model: str,
        request: gr.Request = None,
    ):
        """ImageNet-class images from a DiT pipeline (image i uses seed + i); streams progress."""
        run = dict(label=label, seed=seed, batch=batch, steps=steps, guidance_scale=guidance_scale, model_id=model)
        yield from self._stream([run], request, task="dit")

    # ---- text tab -------------------------------------------------------------------------
    def stop_event(self, request: gr.Request | None) -> threading.Event:
        """One Stop flag per browser session (or API client), so Stop ends only your own run."""
        key = getattr(request, "session_hash", None) or "default"
        with self._stops_lock:
            return self._stops.setdefault(key, threading.Event())

    def text_stop(self, request: gr.Request = None) -> None:
        """Ask the running generation of this session to stop after the current step."""
        self.stop_event(request).set()

    def _stream(self, runs: list[dict[str, Any]], request: gr.Request | None, task: str = "text"):
        """Run the draws of `task` one after another; yield (preview images, status) per step, then
        (saved images, status). Stop (or a closed page) ends the draw after its current step, and a
        stopped run saves nothing."""
        stop = self.stop_event(request)
        stop.clear()
        drawn: list = []
        last_step = 0
        for run in runs:
            prefix = f"seeds {run['seed']}–{run['seed'] + run['batch'] - 1} · " if len(runs) > 1 else ""
            steps = zerogpu.draw_steps(self.engines_key, task, run)
            try:
                for kind, value in steps:
                    if kind == "error":
                        raise value
                    if kind == "done":
                        drawn += value
                        break
                    last_step = value.step
                    status = f"{prefix}step {value.step} of {value.total}"
                    yield ([(display(im), "preview") for im in value.preview] or gr.skip()), status
                    if stop.is_set():
                        break
            finally:
                steps.close()  # on Stop, or when Gradio closes this handler: the draw ends at its next step
            if kind != "done" or not value or (stop.is_set() and run is not runs[-1]):
                yield [], f"stopped at step {last_step}: nothing was saved"
                return
        saved = self.save_all(drawn)
        yield saved, f"{len(saved)} image{'s' * (len(saved) > 1)} saved to the gallery"

    @user_errors
    def text_to_image(
        self,
        prompt: str,
        negative_prompt: str,
        seed: float,
        batch: float,
        steps: float,
        guidance_scale: float,
        scheduler: str,
        model: str,
        request: gr.Request = None,
    ):
        """Images from a prompt (image i uses seed + i); streams previews, then returns the saved images."""
        run = dict(
            prompt=prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            batch=batch,
            steps=steps,
            guidance_scale=guidance_scale,
            scheduler=scheduler,
            model_id=model,
        )
        yield from self._stream([run], request)

    @user_errors
    def text_seed_sweep(
        self,
        prompt: str,
        negative_prompt: str,
        seed: float,
        count: float,
        steps: float,
        guidance_scale: float,
        scheduler: str,
        model: str,
        request: gr.Request = None,
    ):
        """One prompt, `count` seeds side by side (seed, seed + 1, ...), made in batches."""
        from engines.runtime import check_seed

        count = check_int("seeds", count, 2, MAX_SWEEP)
        seed = check_seed(seed, count)
        runs = [
            dict(
                prompt=prompt,
                negative_prompt=negative_prompt,
                seed=seed + start,
                batch=min(MAX_BATCH, count - start),
                steps=steps,
                guidance_scale=guidance_scale,
                scheduler=scheduler,
                model_id=model,
            )
            for start in range(0, count, MAX_BATCH)
        ]
        yield from self._stream(runs, request)

    def text_history(self) -> list[list[Any]]:
        """The last prompts made here with their settings, newest first (one row per distinct recipe)."""
        rows, seen = [], set()
        for entry in self.gallery.list(1, 200):
            recipe = entry.recipe
            if recipe.get("engine") != "text":
                continue
            p = recipe.get("params", {})
            row = [
                recipe.get("prompt", ""),
                recipe.get("negative_prompt", ""),
                p.get("batch_seed"),
                p.get("batch_size"),
                p.get("steps"),
                p.get("guidance_scale"),
                p.get("scheduler"),
                recipe.get("model"),
            ]
            if tuple(row) not in seen:
                seen.add(tuple(row))
                rows.append(row)
            if len(rows) == HISTORY_ROWS:
                break
        return rows

    # ---- gallery --------------------------------------------------------------------------
    def gallery_list(self, page: float = 1) -> dict[str, Any]:
        """The gallery, newest first: {page, pages, total, items: [{id, url, recipe}]}; url serves the PNG."""
        try:
            page = check_int("page", page, 1, 10**9)
        except InputError as error:
            raise gr.Error(str(error)) from None
        entries = self.gallery.list(page, GALLERY_PAGE_SIZE)
        return {
            "page": page,
            "pages": self.gallery.pages(GALLERY_PAGE_SIZE),
            "total": self.gallery.count(),
            "items": [{"id": e.id, "url": f"/gradio_api/file={e.path}", "recipe": e.recipe} for e in entries],
        }

    def gallery_page(self, page: float):
        """The panel: images of one page, ids in the same order, and the page caption."""
        pages = self.gallery.pages(GALLERY_PAGE_SIZE)
        page = min(max(1, int(page or 1)), pages)
        entries = self.gallery.list(page, GALLERY_PAGE_SIZE)
        items = [(str(e.path), e.caption) for e in entries]
        return items, [e.id for e in entries], page, f"page {page} of {pages} · {self.gallery.count()} images"

    def gallery_select(self, ids: list[str], event: gr.SelectData):
        entry = self.gallery.get(ids[event.index]) if ids and event.index < len(ids) else None
        if entry is None:
            return self.selection_cleared()
        enabled = gr.update(interactive=True)
        recipe = json.dumps(entry.recipe, indent=2, ensure_ascii=False)
        return entry.id, recipe, gr.update(value=str(entry.path), interactive=True), enabled, enabled

    def selection_cleared(self):
        disabled = gr.update(interactive=False)
        return None, "", gr.update(value=None, interactive=False), disabled, disabled

    def gallery_delete(self, image_id: str | None, page: float):
        if image_id:
            self.gallery.delete(image_id)
        return (*self.gallery_page(page), *self.selection_cleared())

    def reuse_settings(self, image_id: str | None) -> dict[str, Any]:
        """The settings that made an image, by control name ("tab", "vae_model", "gan_seed", ...).

        Grids are restored whole (the batch seed and size), so the same grid comes back bit for bit.
        """
        entry: Entry | None = self.gallery.get(image_id) if image_id else None
        if entry is None:
            raise gr.Error("select an image in the gallery first")
        recipe, params = entry.recipe, entry.recipe.get("params", {})
        stored = {name: self.gallery.input_path(sha) for name, sha in recipe.get("inputs", {}).items()}
        inputs = {name: str(path) for name, path in stored.items() if path}  # uploads kept in the gallery
        engine, operation = recipe.get("engine"), recipe.get("operation")
        settings: dict[str, Any] = {"tab": engine, f"{engine}_model": recipe.get("model"), f"{engine}_mode": operation}
        if engine == "vae" and operation == "reconstruct":
            settings["vae_image"] = inputs.get("image")
        elif engine == "vae" and operation == "interpolate":
            settings.update(
                vae_steps=params["steps"],
                vae_a=inputs.get("image_a"),
                vae_b=inputs.get("image_b"),
            )
        elif engine == "vae" and operation == "sample":
            settings.update(vae_seed=recipe["seed"], vae_count=1)
        elif engine == "gan" and operation == "sample":
            settings.update(gan_seed=params["batch_seed"], gan_count=params["grid_size"], gan_psi=params["psi"])
        elif engine == "gan" and operation == "variation":
            settings.update(
                gan_selected_seed=recipe["seed"],
                gan_psi=params["psi"],
                gan_strength=params["strength"],
                gan_variation_seed=params["variation_seed"],
                gan_variations=params["variations"],
            )
        elif engine == "gan" and operation == "interpolate":
            settings.update(
                gan_seed_a=recipe["seed"],
                gan_seed_b=params["seed_b"],
                gan_frames=params["frames"],
                gan_psi=params["psi"],
            )
        elif engine == "conditional":
            settings["conditional_psi"] = params["psi"]
            if operation == "sample":
                first, second, *_ = [*params["labels"].values(), None, None]
                settings.update(conditional_first=first, conditional_second=second)
                settings.update(conditional_seed=params["batch_seed"], conditional_count=params["grid_size"])
            elif operation == "class_grid":
                settings.update(conditional_grid_seed=params["batch_seed"], conditional_grid_count=params["grid_size"])
            elif operation == "morph":
                label_set = params["label_set"]
                first, second, *_ = [*params["from"].values(), None, None]
                settings.update(
                    conditional_first=first,
                    conditional_second=second,
                    conditional_morph_set=label_set,
                    conditional_morph_from=params["from"][label_set],
                    conditional_morph_to=params["to"][label_set],
                    conditional_morph_seed=recipe["seed"],
                    conditional_frames=params["frames"],
                )
        elif engine == "dit":
            settings.pop("dit_mode")
            settings.update(
                tab="conditional",
                conditional_mode="dit",
                dit_label=params["label"],
                dit_seed=params["batch_seed"],
                dit_batch=params["batch_size"],
                dit_steps=params["steps"],
                dit_guidance=params["guidance_scale"],
            )
        elif engine == "text":
            settings.update(
                text_prompt=recipe.get("prompt", ""),
                text_negative=recipe.get("negative_prompt", ""),
                text_seed=params["batch_seed"],
                text_batch=params["batch_size"],
                text_steps=params["steps"],
                text_guidance=params["guidance_scale"],
                text_scheduler=params["scheduler"],
            )
            settings.pop("text_mode")
        gr.Info(f"settings of {entry.id} restored")
        return settings


def refresh_gallery_after(event, studio: Studio, page: gr.State, panel: list) -> None:
    event.success(studio.gallery_page, page, panel, api_visibility="private")


def model_picker(engines: Engines, task: str) -> gr.Dropdown:
    return gr.Dropdown(
        model_choices(engines, task),
        value=default_model(engines, task),
        label="Model",
        allow_custom_value=True,
        scale=3,
        info="a bundled model, a hub repo id, or a local folder",
    )


def seed_input(label: str = "Seed", value: int = 0) -> gr.Number:
    with gr.Row(equal_height=True):
        seed = gr.Number(value=value, label=label, precision=0, minimum=0, maximum=MAX_SEED)
        dice = gr.Button("🎲", scale=0, min_width=48)
    dice.click(lambda: random.randint(0, MAX_SEED), None, seed, api_visibility="private")
    return seed


def pixel_gallery(label: str, columns: int = 8, **kwargs) -> gr.Gallery:
    return gr.Gallery(
        label=label,
        columns=columns,
        height="auto",
        fit_columns=False,
        elem_classes="pixelated",
        format="png",
        object_fit="contain",
        **kwargs,
    )


def vae_tab(engines: Engines, studio: Studio, after) -> dict[str, gr.components.Component]:
    gr.Markdown(
        "An autoencoder squeezes an image into a small latent grid and paints it back. "
        "See what it keeps, walk between two images, or decode latents drawn at random."
    )
    with gr.Row():
        model = model_picker(engines, "vae")
        policy = gr.Markdown(engines.vae.describe(model.value) if model.value else "")
    model.change(lambda m: engines.vae.describe(m), model, policy, api_visibility="private")
    with gr.Tabs() as mode:
        with gr.Tab("Reconstruct", id="reconstruct"), gr.Row():
            with gr.Column(scale=1):
                image = UploadedImage(
                    type="filepath",
                    image_mode=None,
                    label="Image",
                    elem_id="vae-image",
                    sources=["upload", "clipboard"],
                    height=260,
                )
                run = gr.Button("Reconstruct", variant="primary")
                if example_images():
                    gr.Examples(example_images(), inputs=[image], label="Held-out emoji", examples_per_page=12)
            with gr.Column(scale=2):
                with gr.Row(elem_classes="pixelated"):
                    original = gr.Image(
                        label="Original (as the model sees it)", format="png", interactive=False, height=300
                    )
                    reconstruction = gr.Image(label="Reconstruction", format="png", interactive=False, height=300)
                    difference = gr.Image(
                        label="Difference (white = 25% off)", format="png", interactive=False, height=300
                    )
                scores = gr.Markdown(elem_id="vae-scores")
        with gr.Tab("Interpolate", id="interpolate"):
            with gr.Row():
                image_a = UploadedImage(type="filepath", image_mode=None, label="Image A", height=200)
                image_b = UploadedImage(type="filepath", image_mode=None, label="Image B", height=200)
            if example_images():
                pairs = [list(pair) for pair in zip(example_images()[::2], example_images()[1::2], strict=False)]
                gr.Examples(pairs, inputs=[image_a, image_b], label="Example pairs", examples_per_page=6)
            steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, value=8, step=1, label="Frames")
            interpolate = gr.Button("Interpolate", variant="primary")
            with gr.Row(elem_classes="pixelated"):
                strip = gr.Image(label="Strip (saved to the gallery)", format="png", interactive=False, type="filepath")
                gif = gr.Image(label="Animation", interactive=False, type="filepath")
        with gr.Tab("Sample", id="sample"):
            with gr.Row():
                seed = seed_input()
                count = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="Images")
            sample = gr.Button("Sample from the prior", variant="primary")
            samples = pixel_gallery("Samples")
    after(
        run.click(
            studio.vae_reconstruct,
            [image, model],
            [original, reconstruction, difference, scores],
            api_name="vae_reconstruct",
        )
    )
    after(
        interpolate.click(
            studio.vae_interpolate, [image_a, image_b, steps, model], [strip, gif], api_name="vae_interpolate"
        )
    )
    after(sample.click(studio.vae_sample, [seed, count, model], samples, api_name="vae_sample"))
    return dict(
        vae_model=model,
        vae_mode=mode,
        vae_image=image,
        vae_a=image_a,
        vae_b=image_b,
        vae_steps=steps,
        vae_seed=seed,
        vae_count=count,
    )


def seed_of_clicked(first_seed: int, event: gr.SelectData) -> int:
    """Image i of a grid was made from the grid's seed + i."""
    return int(first_seed) + event.index


def gan_tab(engines: Engines, studio: Studio, after) -> dict[str, gr.components.Component]:
    gr.Markdown(
        "A GAN dreams up new emoji-like images from random numbers. Make a grid, click an image to explore "
        "around it, or walk from one seed to another. **Truncation ψ** pulls every latent towards the average: "
        "1 is the full variety, lower is cleaner and more typical, 0 gives the single average image."
    )
    with gr.Row():
        model = model_picker(engines, "gan")
        psi = gr.Slider(0, MAX_PSI, value=0.8, step=0.05, label="Truncation ψ")
    with gr.Tabs() as mode:
        with gr.Tab("Sample", id="sample"):
            with gr.Row():
                seed = seed_input()
                count = gr.Slider(1, MAX_GRID, value=16, step=1, label="Grid size")
            run = gr.Button("Generate", variant="primary")
            grid_seed = gr.State(0)
            grid = pixel_gallery("Click an image to explore around it", allow_preview=False, elem_id="gan-grid")
            with gr.Group():
                gr.Markdown("**Explore** variations around one image: its latent plus a little seeded noise.")
                with gr.Row():
                    selected = gr.Number(value=0, label="Image seed", precision=0, minimum=0, maximum=MAX_SEED)
                    strength = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="Strength")
                    variations = gr.Slider(1, MAX_GRID, value=8, step=1, label="Variations")
                    variation_seed = gr.Number(
                        value=1, label="Variation seed", precision=0, minimum=0, maximum=MAX_SEED
                    )
                explore = gr.Button("Explore", variant="secondary")
                explored = pixel_gallery("Variations", elem_id="gan-variations")
        with gr.Tab("Interpolate", id="interpolate"):
            with gr.Row():
                seed_a = seed_input("Seed A", 0)
                seed_b = seed_input("Seed B", 1)
                frames = gr.Slider(2, MAX_FRAMES, value=12, step=1, label="Frames")
            walk = gr.Button("Interpolate", variant="primary")
            with gr.Row(elem_classes="pixelated"):
                strip = gr.Image(label="Strip (saved to the gallery)", format="png", interactive=False, type="filepath")
                gif = gr.Image(label="Animation", interactive=False, type="filepath")
    generated = run.click(studio.gan_sample, [seed, count, psi, model], grid, api_name="gan_sample")
    after(generated)
    generated.success(lambda s: int(s), seed, grid_seed, api_visibility="private")  # the grid's first seed
    grid.select(seed_of_clicked, grid_seed, selected, api_visibility="private")
    after(
        explore.click(
            studio.gan_variations,
            [selected, psi, strength, variations, variation_seed, model],
            explored,
            api_name="gan_variations",
        )
    )
    after(
        walk.click(
            studio.gan_interpolate, [seed_a, seed_b, frames, psi, model], [strip, gif], api_name="gan_interpolate"
        )
    )
    return dict(
        gan_model=model,
        gan_mode=mode,
        gan_psi=psi,
        gan_seed=seed,
        gan_count=count,
        gan_selected_seed=selected,
        gan_strength=strength,
        gan_variations=variations,
        gan_variation_seed=variation_seed,
        gan_seed_a=seed_a,
        gan_seed_b=seed_b,
        gan_frames=frames,
    )


def dit_class_names(engines: Engines, model_id: str | None) -> list[str]:
    try:
        return engines.dit.class_names(model_id) if model_id else []
    except (InputError, ModelUnavailable):
        return []  # unavailable here: a name or an index can still be typed


def dit_section(engines: Engines, studio: Studio, after) -> dict[str, gr.components.Component]:
    from engines.dit import MAX_BATCH as DIT_MAX_BATCH
    from engines.dit import MAX_GUIDANCE as DIT_MAX_GUIDANCE

    gr.Markdown(
        "Diffusion Transformers from the hub draw any of the 1,000 ImageNet classes at 256×256 (a GPU makes this "
        "practical). This section has its own model and class: type to search the class names."
    )
    model = model_picker(engines, "dit")
    names = dit_class_names(engines, model.value)
    with gr.Row():
        label = gr.Dropdown(
            names,
            value=names[0] if names else None,
            label="ImageNet class",
            filterable=True,
            allow_custom_value=True,  # the engine checks names (and indices 0–999) with a clear message
            scale=2,
        )
        seed = seed_input()
    with gr.Row():
        batch = gr.Slider(1, DIT_MAX_BATCH, value=4, step=1, label="Images")
        steps = gr.Slider(1, 100, value=25, step=1, label="Steps (DPM-Solver)")
        guidance = gr.Slider(0, DIT_MAX_GUIDANCE, value=4.0, step=0.5, label="Guidance scale")
    with gr.Row():
        run = gr.Button("Generate", variant="primary", scale=4)
        stop = gr.Button("Stop", variant="stop", scale=1)
    status = gr.Markdown()
    images = pixel_gallery("Images", 4, elem_id="dit-images")
    after(
        run.click(
            studio.dit_sample, [label, seed, batch, steps, guidance, model], [images, status], api_name="dit_sample"
        )
    )
    stop.click(studio.text_stop, None, None, api_name="dit_stop", api_visibility="private", concurrency_limit=None)
    model.change(lambda m: gr.update(choices=dit_class_names(engines, m)), model, label, api_visibility="private")
    return dict(
        dit_model=model, dit_label=label, dit_seed=seed, dit_batch=batch, dit_steps=steps, dit_guidance=guidance
    )


def conditional_tab(engines: Engines, studio: Studio, after) -> dict[str, gr.components.Component]:
    from engines.conditional import ANY, MAX_SEEDS_PER_CLASS

    gr.Markdown(
        "Choose what to make: a category and an art style (or *any*). See one seed rendered in every class, "
        "or morph one class into another at a fixed seed."
    )
    with gr.Row():
        model = model_picker(engines, "conditional")
        psi = gr.Slider(0, MAX_PSI, value=0.8, step=0.05, label="Truncation ψ")
    # (title, name) per class: the pickers show "Food & Drink" and send "food-drink"
    names = engines.conditional.label_choices(model.value) if model.value else {}
    label_sets = [*names, "", ""][:2]
    with gr.Row():
        first, second = (
            gr.Dropdown(
                [(ANY, ANY), *names.get(label_set, [])],
                value=ANY,
                label=label_set.capitalize() or "(unused)",
                visible=bool(label_set),
                filterable=True,
                allow_custom_value=True,  # other models have other classes; the engine checks the name
            )
            for label_set in label_sets
        )
    with gr.Tabs() as mode:
        with gr.Tab("Sample", id="sample"):
            with gr.Row():
                seed = seed_input()
                count = gr.Slider(1, MAX_GRID, value=16, step=1, label="Grid size")
            run = gr.Button("Generate", variant="primary")
            grid = pixel_gallery("Images", elem_id="conditional-grid")
        with gr.Tab("One seed, every class", id="class_grid"):
            with gr.Row():
                grid_seed = seed_input()
                grid_count = gr.Slider(1, MAX_SEEDS_PER_CLASS, value=8, step=1, label="Seeds per class")
            every = gr.Button("Every class", variant="primary")
            # one row per class: as many columns as seeds per class (the slider updates it)
            class_grid = pixel_gallery(
                "A row per class; each column one seed, the same in every row", 8, elem_id="conditional-classes"
            )
        with gr.Tab("DiT · ImageNet classes", id="dit"):
            dit_controls = dit_section(engines, studio, after)
        with gr.Tab("Morph", id="morph"):
            with gr.Row():
                morph_set = gr.Radio(list(names), value=next(iter(names), None), label="Morph the")
                first_names = names.get(label_sets[0], [])
                ends = (first_names[0][1], first_names[-1][1]) if first_names else (None, None)
                morph_from, morph_to = (
                    gr.Dropdown(first_names, value=end, label=label, allow_custom_value=True)
                    for end, label in zip(ends, ("From", "To"), strict=True)
                )
            with gr.Row():
                morph_seed = seed_input()
                frames = gr.Slider(2, MAX_FRAMES, value=12, step=1, label="Frames")
            morph = gr.Button("Morph", variant="primary")
            with gr.Row(elem_classes="pixelated"):
                strip = gr.Image(label="Strip (saved to the gallery)", format="png", interactive=False, type="filepath")
                gif = gr.Image(label="Animation", interactive=False, type="filepath")
    after(
        run.click(
            studio.conditional_sample, [first, second, seed, count, psi, model], grid, api_name="conditional_sample"
        )
    )
    after(
        every.click(
            studio.conditional_class_grid,
            [grid_seed, grid_count, psi, model],
            class_grid,
            api_name="conditional_class_grid",
        )
    )
    after(
        morph.click(
            studio.conditional_morph,
            [morph_set, morph_from, morph_to, first, second, morph_seed, frames, psi, model],
            [strip, gif],
            api_name="conditional_morph",
        )
    )

    def morph_choices(label_set: str | None, model_id: str):
        classes = engines.conditional.label_choices(model_id).get(label_set or "", []) if model_id else []
        return gr.update(choices=classes, value=classes[0][1] if classes else None), gr.update(
            choices=classes, value=classes[-1][1] if classes else None
        )

    def pickers_for(model_id: str):
        """Another model, other classes: the pickers show its label sets and class titles."""
        try:
            label_choices = engines.conditional.label_choices(model_id) if model_id else {}
        except (InputError, ModelUnavailable):
            return gr.skip(), gr.skip(), gr.skip()
        sets = [*label_choices.items(), ("", []), ("", [])][:2]
        pickers = [
            gr.update(
                choices=[(ANY, ANY), *choices], value=ANY, label=name.capitalize() or "(unused)", visible=bool(name)
            )
            for name, choices in sets
        ]
        return *pickers, gr.update(choices=list(label_choices), value=next(iter(label_choices), None))

    model.change(pickers_for, model, [first, second, morph_set], api_visibility="private")
    grid_count.change(lambda n: gr.update(columns=int(n)), grid_count, class_grid, api_visibility="private")
    morph_set.change(user_errors(morph_choices), [morph_set, model], [morph_from, morph_to], api_visibility="private")
    return dit_controls | dict(
        conditional_model=model,
        conditional_mode=mode,
        conditional_psi=psi,
        conditional_first=first,
        conditional_second=second,
        conditional_seed=seed,
        conditional_count=count,
        conditional_grid_seed=grid_seed,
        conditional_grid_count=grid_count,
        conditional_morph_set=morph_set,
        conditional_morph_from=morph_from,
        conditional_morph_to=morph_to,
        conditional_morph_seed=morph_seed,
        conditional_frames=frames,
    )


HISTORY_COLUMNS = ["prompt", "negative prompt", "seed", "images", "steps", "guidance", "scheduler", "model"]


def text_defaults(engines: Engines, model_id: str | None) -> tuple[int, float]:
    """(steps, guidance scale) the model was made for; Turbo models want 1 step and no guidance."""
    try:
        defaults = engines.text.defaults(model_id) if model_id else {}
    except (InputError, ModelUnavailable):
        defaults = {}
    return int(defaults.get("steps", 25)), float(defaults.get("guidance_scale", 7.5))


def history_pick(rows: list[list[Any]], event: gr.SelectData):
    """A click on a history row puts its prompt and settings back."""
    row = rows[event.index[0]] if rows and event.index and event.index[0] < len(rows) else None
    if row is None:
        return [gr.skip()] * len(HISTORY_COLUMNS)
    return [value if value is not None else gr.skip() for value in row]


def text_tab(engines: Engines, studio: Studio, after) -> dict[str, gr.components.Component]:
    gr.Markdown(
        "Describe an emoji and watch it form, step by step. The bundled model knows the emoji captions' words "
        "(*cat face*, *red apple*, *rocket*), follows colour words (*a purple cat face*) and tries things it never "
        "saw (*a blue pizza*, *a cat astronaut*). End a prompt with *noto style*, *twemoji style*, *fluent flat "
        "style* or *fluent 3d style* to ask for an art set. On a GPU, "
        "the hub's SD-Turbo and SDXL-Turbo draw 512×512 images in one step."
    )
    with gr.Row():
        model = model_picker(engines, "text")
        scheduler = gr.Dropdown([DEFAULT_SCHEDULER, *SCHEDULERS], value=DEFAULT_SCHEDULER, label="Scheduler", scale=1)
    prompt = gr.Textbox(
        label="Prompt", lines=2, placeholder="a sleepy cat with a party hat, noto style", elem_id="text-prompt"
    )
    negative = gr.Textbox(label="Negative prompt", placeholder="what to steer away from (needs guidance above 1)")
    steps_default, guidance_default = text_defaults(engines, model.value)
    with gr.Row():
        seed = seed_input()
        batch = gr.Slider(1, MAX_BATCH, value=4, step=1, label="Images")
        steps = gr.Slider(1, MAX_STEPS, value=steps_default, step=1, label="Steps")
        guidance = gr.Slider(0, MAX_GUIDANCE, value=guidance_default, step=0.5, label="Guidance scale")
    with gr.Row():
        run = gr.Button("Generate", variant="primary", scale=4)
        stop = gr.Button("Stop", variant="stop", scale=1)
    status = gr.Markdown(elem_id="text-status")
    images = pixel_gallery("Images (previews while it denoises)", elem_id="text-images")
    with gr.Accordion("Seed sweep: one prompt, many seeds side by side", open=False), gr.Row():
        sweep_count = gr.Slider(2, MAX_SWEEP, value=8, step=1, label="Seeds")
        sweep = gr.Button("Sweep seeds", variant="secondary")
    with gr.Accordion("Prompt history (click a row to reuse it)", open=True):
        history = gr.Dataframe(
            value=studio.text_history() or None,
            headers=HISTORY_COLUMNS,
            type="array",
            interactive=False,
            wrap=True,
            elem_id="text-history",
        )
    settings = [prompt, negative, seed, batch, steps, guidance, scheduler, model]
    generated = run.click(studio.text_to_image, settings, [images, status], api_name="text_to_image")
    swept = sweep.click(
        studio.text_seed_sweep,
        [prompt, negative, seed, sweep_count, steps, guidance, scheduler, model],
        [images, status],
        api_name="text_seed_sweep",
    )
    for event in (generated, swept):
        after(event)
        event.success(studio.text_history, None, history, api_visibility="private")
    # Stop runs beside the generation it stops (its own queue, no limit).
    stop.click(studio.text_stop, None, None, api_name="text_stop", concurrency_limit=None)
    history.select(history_pick, history, settings, api_visibility="private")
    model.change(lambda m: text_defaults(engines, m), model, [steps, guidance], api_visibility="private")
    return dict(
        text_model=model,
        text_prompt=prompt,
        text_negative=negative,
        text_seed=seed,
        text_batch=batch,
        text_steps=steps,
        text_guidance=guidance,
        text_scheduler=scheduler,
    )


def build_app(engines: Engines | None = None, gallery: Gallery | None = None) -> gr.Blocks:
    """The page. A tab exists only when its task has a model to run."""
    engines = engines or create_engines()
    gallery = gallery or Gallery()
    studio = Studio(engines, gallery)

    with gr.Blocks(title="Atelier") as demo:
        demo.studio = studio  # tests and benchmarks reach the handlers through the app
        gr.Markdown(
            "# 🎨 Atelier\nMake images with models trained on emoji art. Everything you make is kept "
            "in the gallery below, with its full recipe."
        )
        gallery_page = gr.State(1)
        pending: list = []  # events whose success refreshes the gallery panel, wired once it exists
        controls: dict[str, gr.components.Component] = {}
        with gr.Tabs() as tabs:
            if engines.registry.bundled("gan"):
                with gr.Tab("GAN", id="gan"):
                    controls |= gan_tab(engines, studio, pending.append)
            if engines.registry.bundled("conditional"):
                with gr.Tab("Class-conditional", id="conditional"):
                    controls |= conditional_tab(engines, studio, pending.append)
            with gr.Tab("VAE", id="vae"):
                controls |= vae_tab(engines, studio, pending.append)
            if any(spec.available for spec in engines.registry.models("text")):
                with gr.Tab("Text", id="text"):
                    controls |= text_tab(engines, studio, pending.append)

        with gr.Accordion("Gallery", open=True):
            with gr.Row():
                gallery_prev = gr.Button("◀ Newer", scale=0, size="sm")
                gallery_caption = gr.Markdown()
                gallery_next = gr.Button("Older ▶", scale=0, size="sm")
                gallery_refresh = gr.Button("↻ Refresh", scale=0, size="sm")
            gallery_ids = gr.State([])
            selected_id = gr.State(None)
            gallery_view = gr.Gallery(
                label="Everything made here, newest first",
                columns=8,
                height="auto",
                allow_preview=False,
                elem_classes="pixelated",
                format="png",
                fit_columns=False,
                elem_id="gallery-view",
                object_fit="contain",
            )
            with gr.Row():
                recipe_box = gr.Code(
                    label="Recipe of the selected image",
                    language="json",
                    elem_id="recipe",
                    interactive=False,
                    max_lines=18,
                )
                with gr.Column(scale=0, min_width=200):
                    download = gr.DownloadButton("⬇ Download PNG (with recipe)", interactive=False)
                    reuse = gr.Button("↺ Reuse settings", interactive=False)
                    delete = gr.Button("🗑 Delete", variant="stop", interactive=False)

        gr.Markdown(f"<small>Running on {engines.runtime.describe()} · gradio {gr.__version__}</small>")

        panel = [gallery_view, gallery_ids, gallery_page, gallery_caption]
        selection = [selected_id, recipe_box, download, reuse, delete]
        for event in pending:
            refresh_gallery_after(event, studio, gallery_page, panel)
        for name, picker in controls.items():  # checkpoints trained while the app runs appear on reload
            if name.endswith("_model"):
                task = name.removesuffix("_model")
                demo.load(
                    lambda task=task: gr.update(choices=model_choices(engines, task)),
                    None,
                    picker,
                    api_visibility="private",
                )
        gr.api(studio.gallery_list, api_name="gallery_list")
        demo.load(studio.gallery_page, gallery_page, panel, api_visibility="private")
        gallery_refresh.click(studio.gallery_page, gallery_page, panel, api_visibility="private")
        gallery_prev.click(lambda p: studio.gallery_page(max(1, p - 1)), gallery_page, panel, api_visibility="private")
        gallery_next.click(lambda p: studio.gallery_page(p + 1), gallery_page, panel, api_visibility="private")
        gallery_view.select(studio.gallery_select, gallery_ids, selection, api_visibility="private")
        delete.click(studio.gallery_delete, [selected_id, gallery_page], panel + selection, api_visibility="private")

        controls |= {"tab": tabs}
        tab_ids = {"vae_mode", "gan_mode", "conditional_mode", "tab"}

        def apply_settings(image_id):
            settings = studio.reuse_settings(image_id)
            return {
                controls[name]: gr.update(selected=value) if name in tab_ids else value
                for name, value in settings.items()
                if name in controls
            }

        reuse.click(apply_settings, selected_id, list(controls.values()), api_visibility="private")
    return demo


def launch_kwargs(demo: gr.Blocks) -> dict[str, Any]:
    """What launch() needs besides host and port (Gradio 6 takes theme and CSS here)."""
    return dict(
        theme=gr.themes.Soft(primary_hue="violet", secondary_hue="amber"),
        css=CSS,
        allowed_paths=[str(demo.studio.gallery.root), str(EXAMPLES_DIR), str(demo.studio.scratch)],
        footer_links=["api", "gradio", "settings"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Atelier, the image studio")
    # A Space tells Gradio where to listen through GRADIO_SERVER_NAME/PORT (0.0.0.0:7860); passing
    # our own default instead would bind to 127.0.0.1, which the Space's proxy cannot reach.
    env = os.environ.get
    parser.add_argument("--host", default=env("ATELIER_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env("ATELIER_PORT") or env("GRADIO_SERVER_PORT") or 7860))
    parser.add_argument(
        "--gallery", default=None, help="gallery folder (default: ATELIER_GALLERY_DIR or ./gallery_data)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engines = create_engines()
    if os.environ.get("SPACE_ID") or os.environ.get("ATELIER_PRELOAD", "").lower() in ("1", "true", "yes"):
        log.info("preloaded %s", ", ".join(preload(engines)) or "nothing")
    demo = build_app(engines, Gallery(args.gallery) if args.gallery else None)
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, **launch_kwargs(demo))


if __name__ == "__main__":
    main()
