"""What every tab uses: the page's CSS, error handling, and the small widgets (model picker, seed,
pixel gallery, upload) that look and behave the same in every tab."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import gradio as gr
from PIL import Image

from engines import Engines
from engines.errors import InputError, ModelUnavailable
from engines.imaging import MAX_INPUT_BYTES, upscale_for_display
from engines.limits import MAX_DRAW, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, RANDOM_SEED
from ui.visitors import answering

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
DISPLAY_SIDE = 256  # small model outputs are upscaled (nearest) to at least this for viewing
log = logging.getLogger("atelier")

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; object-fit: contain !important; max-height: 100%; }
#recipe textarea { font-family: ui-monospace, monospace; font-size: 12px; }
/* galleries grow with their images instead of reserving 450 px for one row */
.pixelated .grid-wrap.fixed-height { min-height: 0; height: auto; max-height: none; }
/* a clicked image opens big (an auto-height gallery left its preview ~80 px, under the thumbnail size):
   the preview takes the grid's place in the page instead of floating over the grid's height */
.pixelated .preview { position: relative; padding-bottom: 60px; }  /* the thumbnails strip sits in it, at its foot */
.pixelated:has(.preview) .grid-wrap { display: none; }
.pixelated .preview .media-button { height: min(55vh, 440px) !important; flex: none; }
.pixelated .preview .media-button img { height: 100% !important; width: 100%; }
/* the bar under a grid (ui/widgets.selection_bar): its caption on a line of its own on a phone */
.selection-bar { flex-wrap: wrap; gap: 6px; }
.selection-bar .selection-caption { flex: 1 1 220px; min-width: min(100%, 220px) !important; }
/* a phone: grids wrap to the width (no swiping inside a grid) */
@media (max-width: 640px) {
  .pixelated .grid-container {
    grid-template-columns: repeat(auto-fill, minmax(72px, 1fr)) !important; grid-template-rows: none !important;
  }
  .pixelated .caption-label { font-size: 10px !important; padding: 1px 3px !important; }  /* a 10-digit seed, ~100 px */
}
/* captions start with the seed (up to 10 digits, "#3438472981 · …"): room for it at 8 columns */
.pixelated .caption-label {
  max-width: calc(100% - 2 * var(--block-label-margin)); font-size: 12px; padding: 1px 5px;
}
"""

# Ctrl+Enter (Cmd+Enter on a Mac), anywhere on the page: press the primary button (Generate,
# Explore, Walk, ...) of the tab in view, the one holding the focus first.
SHORTCUTS = """
() => {
  const shown = (el) => el.offsetParent !== null;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.repeat) return;
    const panel = document.activeElement?.closest?.("[role=tabpanel]") || document;
    const button = [...panel.querySelectorAll("button.primary")].find(shown)
      || [...document.querySelectorAll("[role=tabpanel] button.primary")].find(shown);
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });
}
"""


class UploadedImage(gr.Image):
    """An image input that hands the server-side path to the engine unopened.

    gr.Image decodes uploads with PIL before the handler runs (a pasted image, sent as a data: URL,
    is decoded whole and saved again), so a non-image, a truncated file or a decompression bomb
    would fail there with PIL's words, or cost seconds and GBs first. Here a data: URL's bytes are
    only written to a file, and the engine's `load_image` does every check (size, then the header's
    pixel count before any pixel is decoded) and says what is wrong.
    """

    is_template = True  # render with gr.Image's frontend, as Gradio's own ClearButton does for Button

    def preprocess(self, payload: Any) -> str | None:
        if payload is None:
            return None
        url = getattr(payload, "url", None) or ""
        if url.startswith("data:"):  # clipboard, webcam, or an API client's inline image
            return pasted_file(url, self.GRADIO_CACHE)
        if getattr(payload, "path", None):
            return str(payload.path)
        raise gr.Error("no image was given: upload an image file (PNG, JPEG, WebP, GIF, ...)")


def pasted_file(url: str, folder: str) -> str:
    """A data: URL's bytes, written to a file unread (bounded by the upload limit)."""
    from gradio.processing_utils import save_bytes_to_cache

    header, _, encoded = url.partition(",")
    if len(encoded) > MAX_INPUT_BYTES * 4 // 3 + 4:
        raise gr.Error(f"the pasted image is over {MAX_INPUT_BYTES // 2**20} MB; images up to that are accepted")
    try:
        data = base64.b64decode(encoded, validate=True) if header.endswith(";base64") else unquote_to_bytes(encoded)
    except (binascii.Error, ValueError):
        raise gr.Error("could not read the pasted image: its data: URL is not valid base64") from None
    return save_bytes_to_cache(data, "pasted", folder)


def as_user_error(fn_name: str, error: Exception) -> gr.Error:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, (InputError, ModelUnavailable)):
        return gr.Error(str(error))
    log.error("unexpected error in %s", fn_name, exc_info=error)
    return gr.Error(f"Something went wrong ({type(error).__name__}); details are in the server log.")


def user_errors(fn):
    """Every endpoint's wrapper: bad input and unavailable models become a clear message in the page
    (bugs are logged), and the request is known to the studio while the handler runs (whose gallery,
    what rate), for plain handlers and for generators (handlers that stream progress) alike.

    Gradio hands a handler the request when its signature asks for one (a positional parameter typed
    gr.Request), so the wrapper's signature is the handler's plus a last `request`, passed on only if
    the handler takes one too."""
    signature = inspect.signature(fn)
    wants_request = "request" in signature.parameters

    def split(args, kwargs):
        request = kwargs.get("request") or next((a for a in args if isinstance(a, gr.Request)), None)
        if not wants_request:
            args = tuple(a for a in args if not isinstance(a, gr.Request))
            kwargs.pop("request", None)
        return request, args, kwargs

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def streaming(*args, **kwargs):
            request, args, kwargs = split(args, kwargs)
            steps = fn(*args, **kwargs)
            try:
                while True:
                    with answering(request):  # each step may run in another worker thread
                        item = next(steps)
                    yield item
            except StopIteration:
                return
            except Exception as error:
                raise as_user_error(fn.__name__, error) from None
            finally:
                steps.close()

        wrapper = streaming
    else:

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            request, args, kwargs = split(args, kwargs)
            try:
                with answering(request):
                    return fn(*args, **kwargs)
            except Exception as error:
                raise as_user_error(fn.__name__, error) from None

    if not wants_request:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        extra = inspect.Parameter("request", kind, default=None, annotation=gr.Request)
        params = list(signature.parameters.values())
        at = next((i for i, p in enumerate(params) if p.kind != kind), len(params))
        wrapper.__signature__ = signature.replace(parameters=[*params[:at], extra, *params[at:]])
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    return wrapper


def display(image: Image.Image) -> Image.Image:
    return upscale_for_display(image, DISPLAY_SIDE)


def example_images() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))


def model_choices(engines: Engines, task: str) -> list[tuple[str, str]]:
    return [(spec.label, spec.id) for spec in engines.registry.models(task)]


def model_picker(engines: Engines, task: str) -> gr.Dropdown:
    default = engines.registry.default(task)
    return gr.Dropdown(
        model_choices(engines, task),
        value=default.id if default else None,
        label="Model",
        allow_custom_value=True,
        scale=3,
        info="a bundled model, a hub repo id, or a local folder",
    )


def model_settings(engines: Engines, task: str, model_id: str | None) -> dict[str, Any]:
    """A model's settings (its atelier.json, or a hub preset's) without loading it; {} if unknown."""
    try:
        return engines.registry.resolve(task, model_id).settings if model_id else {}
    except InputError:
        return {}


def draw_settings(engines: Engines, task: str) -> tuple[gr.Dropdown, gr.Dropdown, gr.Checkbox]:
    """A diffusion tab's first row: its model, the scheduler, Hires ×4."""
    from engines.limits import DEFAULT_SCHEDULER, SCHEDULERS

    with gr.Row():
        model = model_picker(engines, task)
        scheduler = gr.Dropdown([DEFAULT_SCHEDULER, *SCHEDULERS], value=DEFAULT_SCHEDULER, label="Scheduler", scale=1)
        hires = hires_checkbox(engines)
    return model, scheduler, hires


def hires_checkbox(engines: Engines) -> gr.Checkbox:
    """Hires ×4: the tab's images enlarged by the bundled upscaler; shown when there is one."""
    return gr.Checkbox(
        False,
        label="Hires ×4",
        info="enlarge every image 4× with the upscaler (32 → 128 px, 64 → 256 px)",
        visible=bool(engines.registry.bundled("upscale")),
        scale=1,
    )


def draw_controls(steps: int, guidance: float, action: str) -> tuple[Any, ...]:
    """A diffusion draw's rows under its prompt (Edit, image-to-image): seed and image count, steps and
    guidance (the model's defaults), the button that draws and Stop: (seed, count, steps, guidance,
    the button, Stop)."""
    with gr.Row():
        seed = seed_input()
        count = gr.Slider(1, MAX_DRAW, value=4, step=1, label="Images")
    with gr.Row():
        steps_slider = gr.Slider(1, MAX_STEPS, value=steps, step=1, label="Steps")
        guidance_slider = gr.Slider(0, MAX_GUIDANCE, value=guidance, step=0.5, label="Guidance")
    with gr.Row():
        run = gr.Button(action, variant="primary", scale=4)
        stop = gr.Button("Stop", variant="stop", scale=1)
    return seed, count, steps_slider, guidance_slider, run, stop


def seed_input(label: str = "Seed", value: int = RANDOM_SEED) -> gr.Number:
    """A seed field, random each run (-1) unless it is given a seed: as in AUTOMATIC1111, 🎲 sets it
    back to random each run and ♻ keeps the last run's seed."""
    with gr.Row(equal_height=True):
        seed = gr.Number(
            value=value, label=label, info="-1: random each run", precision=0, minimum=RANDOM_SEED, maximum=MAX_SEED
        )
        dice = gr.Button("🎲", scale=0, min_width=48)
        # ♻: the seed of the last run that used this field (ui/studio.reuse_seeds wires it)
        seed.reuse = gr.Button("♻", scale=0, min_width=48, elem_classes="seed-reuse")
    dice.click(lambda: RANDOM_SEED, None, seed, api_visibility="private")
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
        interactive=False,  # an output: as an event's input too (a click's image), it still takes no upload
        **kwargs,
    )


def strip_outputs() -> tuple[gr.Image, gr.Image]:
    """The walk's frames (one sheet, saved to the gallery) and its animation, side by side, enlarged with
    sharp pixels. Captions go above, not on the images: a label drawn over one covered its first frames."""
    with gr.Row(elem_classes="pixelated strip"):
        with gr.Column(min_width=240):
            gr.Markdown("**Frames**, left to right, row by row (saved to the gallery)")
            strip = gr.Image(show_label=False, format="png", interactive=False, type="filepath", height=320)
        with gr.Column(min_width=240):
            gr.Markdown("**Animation**")
            gif = gr.Image(show_label=False, interactive=False, type="filepath", height=320)
    return strip, gif


@dataclass
class SelectionBar:
    """Under a tab's result grid: what to do with the image clicked in it (ui/gallery.py wires it)."""

    grid: gr.Gallery
    selected: gr.State  # the clicked image's gallery id
    column: gr.Column  # the bar and its recipe, shown while an image is selected
    caption: gr.Markdown
    recipe: gr.Code  # the image's whole recipe (the caption is short)
    alone: gr.Button  # its settings back, for this image alone: its own seed, one image
    batch: gr.Button  # its settings back, for its whole batch
    act: gr.Button  # the gallery action of another tab (⤢ Upscale ×4)
    sends: list[gr.Button]  # to each tab that takes an image (the VAE's reconstruction, Edit's inpainting)
    download: gr.DownloadButton


MAX_SENDS = 3  # tabs an image can be sent to from a bar (the tabs built later fill the slots)


def selection_bar(grid: gr.Gallery) -> SelectionBar:
    selected = gr.State(None)
    with gr.Column(visible=False) as shown:
        with gr.Row(elem_classes="selection-bar"):
            caption = gr.Markdown(container=False, elem_classes="selection-caption")
            alone = gr.Button("🌱 Use this seed", size="sm", scale=0, min_width=140)
            batch = gr.Button("↺ Its whole batch", size="sm", scale=0, min_width=140)
            act = gr.Button("", size="sm", scale=0, min_width=140, visible=False)
            sends = [gr.Button("", size="sm", scale=0, min_width=120, visible=False) for _ in range(MAX_SENDS)]
            download = gr.DownloadButton("⬇ PNG", size="sm", scale=0, min_width=100)
        with gr.Accordion("Recipe", open=False, elem_classes="selection-recipe"):
            recipe = gr.Code(language="json", interactive=False, max_lines=18, show_label=False)
    return SelectionBar(grid, selected, shown, caption, recipe, alone, batch, act, sends, download)
