"""Atelier: an image-generation studio for artists. The Gradio page: layout, wiring, messages.

    python app.py                          # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080

Handlers read as: validate -> engine -> gallery -> images. Models live in engines/,
persistence in gallery/; nothing here touches torch.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from engines import Engines, create_engines
from engines.errors import InputError, ModelUnavailable
from engines.imaging import image_grid, save_gif, upscale_for_display
from engines.runtime import MAX_SEED, check_int
from engines.vae import MAX_INTERPOLATION_STEPS, MAX_SAMPLES
from gallery import Entry, Gallery

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
GALLERY_PAGE_SIZE = 24
DISPLAY_SIDE = 256  # small model outputs are upscaled (nearest) to at least this for viewing
log = logging.getLogger("atelier")

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
#recipe textarea { font-family: ui-monospace, monospace; font-size: 12px; }
footer-note { opacity: .7; }
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


def user_errors(fn):
    """Bad input and unavailable models become a clear message in the page; bugs are logged."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (InputError, ModelUnavailable) as error:
            raise gr.Error(str(error)) from None
        except Exception as error:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(error).__name__}); details are in the server log.") from None

    return wrapper


def display(image: Image.Image) -> Image.Image:
    return upscale_for_display(image, DISPLAY_SIDE)


def model_choices(engines: Engines, task: str) -> list[tuple[str, str]]:
    return [(spec.label, spec.id) for spec in engines.registry.models(task)]


def default_model(engines: Engines, task: str) -> str | None:
    spec = engines.registry.default(task)
    return spec.id if spec else None


def example_images() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))


class Studio:
    """The handlers behind the page; each one is also a named API endpoint or a gallery action."""

    def __init__(self, engines: Engines, gallery: Gallery):
        self.engines, self.gallery = engines, gallery
        self.scratch = Path(tempfile.mkdtemp(prefix="atelier-"))  # GIFs and strips for display only

    # ---- VAE tab --------------------------------------------------------------------------
    @user_errors
    def vae_reconstruct(self, image: str | None, model: str):
        """Encode and decode an image; returns original, reconstruction, difference map and scores."""
        if not image:
            raise InputError("upload an image, or click one of the examples")
        result = self.engines.vae.reconstruct(image, model)
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
        result = self.engines.vae.interpolate(image_a, image_b, steps, model)
        strip = image_grid(result.frames, columns=len(result.frames), pad=0)
        entry = self.gallery.add(
            strip, result.recipe, inputs={"image_a": result.inputs[0], "image_b": result.inputs[1]}
        )
        gif = save_gif([display(f) for f in result.frames], self.scratch / f"{entry.id}.gif")
        return str(entry.path), str(gif)

    @user_errors
    def vae_sample(self, seed: float, count: float, model: str):
        """Decode latents drawn from the model's prior; image i uses seed + i."""
        samples = self.engines.vae.sample(seed, count, model)
        entries = [self.gallery.add(s.image, s.recipe) for s in samples]  # only after every image succeeded
        return [(str(e.path), f"seed {e.recipe['seed']}") for e in entries]

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
            return (
                None,
                "",
                gr.update(value=None, interactive=False),
                gr.update(interactive=False),
                gr.update(interactive=False),
            )
        recipe = json.dumps(entry.recipe, indent=2, ensure_ascii=False)
        return (
            entry.id,
            recipe,
            gr.update(value=str(entry.path), interactive=True),
            gr.update(interactive=True),
            gr.update(interactive=True),
        )

    def gallery_delete(self, image_id: str | None, page: float):
        if image_id:
            self.gallery.delete(image_id)
        return (
            *self.gallery_page(page),
            None,
            "",
            gr.update(value=None, interactive=False),
            gr.update(interactive=False),
            gr.update(interactive=False),
        )

    def reuse_settings(self, image_id: str | None):
        """Fill the controls of the tab that made an image, so it can be made again or varied."""
        entry: Entry | None = self.gallery.get(image_id) if image_id else None
        if entry is None:
            raise gr.Error("select an image in the gallery first")
        recipe, skip = entry.recipe, gr.update()
        inputs = {name: self.gallery.input_path(sha) for name, sha in recipe.get("inputs", {}).items()}
        updates = dict(
            tabs=skip,
            vae_mode=skip,
            model=skip,
            image=skip,
            image_a=skip,
            image_b=skip,
            steps=skip,
            seed=skip,
            count=skip,
        )
        if recipe.get("engine") == "vae":
            updates.update(tabs=gr.update(selected="vae"), model=gr.update(value=recipe["model"]))
            operation = recipe.get("operation")
            if operation == "reconstruct":
                updates.update(vae_mode=gr.update(selected="reconstruct"), image=str(inputs.get("image") or "") or None)
            elif operation == "interpolate":
                updates.update(
                    vae_mode=gr.update(selected="interpolate"),
                    steps=recipe["params"]["steps"],
                    image_a=str(inputs.get("image_a") or "") or None,
                    image_b=str(inputs.get("image_b") or "") or None,
                )
            elif operation == "sample":
                updates.update(vae_mode=gr.update(selected="sample"), seed=recipe["seed"], count=1)
        gr.Info(f"settings of {entry.id} restored")
        return tuple(updates.values())


def build_app(engines: Engines | None = None, gallery: Gallery | None = None) -> gr.Blocks:
    engines = engines or create_engines()
    gallery = gallery or Gallery()
    studio = Studio(engines, gallery)
    vae_default = default_model(engines, "vae")

    with gr.Blocks(title="Atelier") as demo:
        demo.studio = studio  # tests and benchmarks reach the handlers through the app
        gr.Markdown(
            "# 🎨 Atelier\nMake images with models trained on emoji art. Everything you make is kept "
            "in the gallery below, with its full recipe."
        )
        with gr.Tabs() as tabs, gr.Tab("VAE", id="vae"):
            gr.Markdown(
                "An autoencoder squeezes an image into a small latent grid and paints it back. "
                "See what it keeps, walk between two images, or decode latents drawn at random."
            )
            with gr.Row():
                vae_model = gr.Dropdown(
                    model_choices(engines, "vae"),
                    value=vae_default,
                    label="Model",
                    allow_custom_value=True,
                    scale=3,
                    info="a bundled model, a hub repo id, or a local folder",
                )
                vae_policy = gr.Markdown(engines.vae.describe(vae_default) if vae_default else "")
            with gr.Tabs() as vae_mode:
                with gr.Tab("Reconstruct", id="reconstruct"), gr.Row():
                    with gr.Column(scale=1):
                        vae_image = UploadedImage(
                            type="filepath",
                            image_mode=None,
                            label="Image",
                            elem_id="vae-image",
                            sources=["upload", "clipboard"],
                            height=260,
                        )
                        vae_run = gr.Button("Reconstruct", variant="primary")
                        if example_images():
                            gr.Examples(
                                example_images(),
                                inputs=[vae_image],
                                label="Held-out emoji",
                                examples_per_page=12,
                            )
                    with gr.Column(scale=2):
                        with gr.Row(elem_classes="pixelated"):
                            vae_original = gr.Image(
                                label="Original (as the model sees it)",
                                format="png",
                                interactive=False,
                                buttons=["fullscreen"],
                            )
                            vae_recon = gr.Image(
                                label="Reconstruction",
                                format="png",
                                interactive=False,
                                buttons=["download", "fullscreen"],
                            )
                            vae_diff = gr.Image(
                                label="Difference (white = 25% off)",
                                format="png",
                                interactive=False,
                                buttons=["fullscreen"],
                            )
                        vae_scores = gr.Markdown(elem_id="vae-scores")
                with gr.Tab("Interpolate", id="interpolate"):
                    with gr.Row():
                        vae_a = UploadedImage(type="filepath", image_mode=None, label="Image A", height=200)
                        vae_b = UploadedImage(type="filepath", image_mode=None, label="Image B", height=200)
                    if example_images():
                        gr.Examples(
                            [[a, b] for a, b in zip(example_images()[::2], example_images()[1::2], strict=False)],
                            inputs=[vae_a, vae_b],
                            label="Example pairs",
                            examples_per_page=6,
                        )
                    vae_steps = gr.Slider(2, MAX_INTERPOLATION_STEPS, value=8, step=1, label="Frames")
                    vae_interp_run = gr.Button("Interpolate", variant="primary")
                    with gr.Row(elem_classes="pixelated"):
                        vae_strip = gr.Image(
                            label="Strip (saved to the gallery)", format="png", interactive=False, type="filepath"
                        )
                        vae_gif = gr.Image(label="Animation", interactive=False, type="filepath")
                with gr.Tab("Sample", id="sample"):
                    with gr.Row():
                        vae_seed = gr.Number(value=0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED)
                        vae_random = gr.Button("🎲 Random seed", scale=0)
                        vae_count = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="Images")
                    vae_sample_run = gr.Button("Sample from the prior", variant="primary")
                    vae_samples = gr.Gallery(
                        label="Samples",
                        columns=8,
                        height="auto",
                        fit_columns=False,
                        elem_classes="pixelated",
                        format="png",
                    )

        with gr.Accordion("Gallery", open=True):
            with gr.Row():
                gallery_prev = gr.Button("◀ Newer", scale=0, size="sm")
                gallery_caption = gr.Markdown()
                gallery_next = gr.Button("Older ▶", scale=0, size="sm")
                gallery_refresh = gr.Button("↻ Refresh", scale=0, size="sm")
            gallery_page = gr.State(1)
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

        # ---- wiring ---------------------------------------------------------------------------
        panel = [gallery_view, gallery_ids, gallery_page, gallery_caption]
        selection = [selected_id, recipe_box, download, reuse, delete]
        vae_model.change(lambda m: engines.vae.describe(m), vae_model, vae_policy, api_visibility="private")
        vae_run.click(
            studio.vae_reconstruct,
            [vae_image, vae_model],
            [vae_original, vae_recon, vae_diff, vae_scores],
            api_name="vae_reconstruct",
        ).success(studio.gallery_page, gallery_page, panel, api_visibility="private")
        vae_interp_run.click(
            studio.vae_interpolate,
            [vae_a, vae_b, vae_steps, vae_model],
            [vae_strip, vae_gif],
            api_name="vae_interpolate",
        ).success(studio.gallery_page, gallery_page, panel, api_visibility="private")
        vae_random.click(lambda: random.randint(0, MAX_SEED), None, vae_seed, api_visibility="private")
        vae_sample_run.click(
            studio.vae_sample, [vae_seed, vae_count, vae_model], vae_samples, api_name="vae_sample"
        ).success(studio.gallery_page, gallery_page, panel, api_visibility="private")

        gr.api(studio.gallery_list, api_name="gallery_list")
        demo.load(studio.gallery_page, gallery_page, panel, api_visibility="private")
        gallery_refresh.click(studio.gallery_page, gallery_page, panel, api_visibility="private")
        gallery_prev.click(lambda p: studio.gallery_page(max(1, p - 1)), gallery_page, panel, api_visibility="private")
        gallery_next.click(lambda p: studio.gallery_page(p + 1), gallery_page, panel, api_visibility="private")
        gallery_view.select(studio.gallery_select, gallery_ids, selection, api_visibility="private")
        delete.click(studio.gallery_delete, [selected_id, gallery_page], panel + selection, api_visibility="private")
        reuse.click(
            studio.reuse_settings,
            selected_id,
            [tabs, vae_mode, vae_model, vae_image, vae_a, vae_b, vae_steps, vae_seed, vae_count],
            api_visibility="private",
        )
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
    parser.add_argument("--host", default=os.environ.get("ATELIER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ATELIER_PORT", "7860")))
    parser.add_argument(
        "--gallery", default=None, help="gallery folder (default: ATELIER_GALLERY_DIR or ./gallery_data)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = build_app(gallery=Gallery(args.gallery) if args.gallery else None)
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, **launch_kwargs(demo))


if __name__ == "__main__":
    main()
