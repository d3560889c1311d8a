"""PNG Info, a section of the text tab: drop any PNG (one made here, or by AUTOMATIC1111, ComfyUI,
Fooocus, InvokeAI or NovelAI) to read what made it, and send its prompt and settings to the text tab.
Settings this studio lacks (a model, a sampler) are reported and left as they are."""

from __future__ import annotations

from typing import Any

import gradio as gr

from engines.errors import InputError
from engines.imaging import open_image
from engines.limits import DEFAULT_SCHEDULER, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, SCHEDULERS, check_float, check_int
from gallery.metadata import read_parameters
from ui.studio import Studio
from ui.widgets import UploadedImage, user_errors

# Other tools' sampler names -> ours (A1111's first, then ComfyUI's); Karras sigmas are not kept.
SAMPLERS = {
    "dpm++ 2m": "DPM-Solver++",
    "dpm++ 2m karras": "DPM-Solver++",
    "dpmpp_2m": "DPM-Solver++",
    "euler": "Euler",
    "euler a": "Euler a",
    "euler_ancestral": "Euler a",
    "ddim": "DDIM",
    "unipc": "UniPC",
    "uni_pc": "UniPC",
} | {name.lower(): name for name in [DEFAULT_SCHEDULER, *SCHEDULERS]}
SHOWN = [
    ("source", "made by"),
    ("prompt", "prompt"),
    ("negative_prompt", "negative prompt"),
    ("seed", "seed"),
    ("steps", "steps"),
    ("guidance_scale", "guidance"),
    ("sampler", "sampler"),
    ("size", "size"),
    ("model", "model"),
    ("model_hash", "model hash"),
]
NO_RECIPE = "this image carries no recipe (no Atelier, AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI or NovelAI metadata)"


class PngInfo:
    def __init__(self, studio: Studio):
        self.studio = studio

    def read(self, image: str | None) -> dict[str, Any]:
        """The PNG's settings, whichever tool wrote them; InputError if it has none."""
        with open_image(image) as opened:
            found = read_parameters(opened)
        if found is None:
            raise InputError(NO_RECIPE)
        return found

    @user_errors
    def info(self, image: str | None) -> tuple[str, dict[str, Any] | None]:
        """What made a PNG, as a table and as {source, prompt, negative_prompt, seed, steps, guidance_scale,
        sampler, size, model, model_hash, recipe (the full one, for images made here)}."""
        if image is None:
            return "", None
        found = self.read(image)
        rows = [f"| {label} | {escaped(found[key])} |" for key, label in SHOWN if found.get(key) not in (None, "")]
        return "| | |\n|---|---|\n" + "\n".join(rows), found

    @user_errors
    def send(self, image: str | None) -> list[Any]:
        """[prompt, negative, seed, steps, guidance, scheduler, model] for the text tab's controls (skipped
        where the PNG names none, or something this studio lacks, which is reported)."""
        found, lacking = self.read(image), []
        prompt = found["prompt"] if isinstance(found.get("prompt"), str) else gr.skip()
        negative = found["negative_prompt"] if isinstance(found.get("negative_prompt"), str) else gr.skip()
        seed = number(found.get("seed"), 0, MAX_SEED, int, "seed", lacking)
        steps = number(found.get("steps"), 1, MAX_STEPS, int, "steps", lacking)
        guidance = number(found.get("guidance_scale"), 0, MAX_GUIDANCE, float, "guidance", lacking)
        scheduler = gr.skip()
        if found.get("sampler") is not None:
            ours = SAMPLERS.get(str(found["sampler"]).lower())
            if ours is None:
                lacking.append(f"sampler {str(found['sampler'])[:60]}")
            else:
                scheduler = ours
        model = gr.skip()
        if found.get("model"):
            ours = {spec.id for spec in self.studio.engines.registry.models("text") if spec.available}
            if found["model"] in ours:
                model = found["model"]
            else:
                lacking.append(f"model {str(found['model'])[:80]}")
        if lacking:
            gr.Warning(f"sent to the text tab; not here, so left as they were: {', '.join(lacking)}")
        else:
            gr.Info("sent to the text tab")
        return [prompt, negative, seed, steps, guidance, scheduler, model]

    def layout(self, controls: dict[str, Any]) -> None:
        """Under the text tab's controls; `controls` are the tab's, by name."""
        with gr.Accordion("PNG Info: read any PNG's prompt and settings", open=False), gr.Row():
            with gr.Column(scale=1):
                image = UploadedImage(
                    type="filepath", image_mode=None, label="A PNG", sources=["upload"], height=200, elem_id="png-info"
                )
                send = gr.Button("Send to the text tab", variant="secondary")
            with gr.Column(scale=2):
                table = gr.Markdown(elem_id="png-info-table")
                with gr.Accordion("Everything it says", open=False):
                    found = gr.JSON(show_label=False)
        image.change(self.info, image, [table, found], api_name="png_info")
        names = ["prompt", "negative", "seed", "steps", "guidance", "scheduler", "model"]
        send.click(self.send, image, [controls[name] for name in names], api_visibility="private")


def number(value: Any, low: float, high: float, kind: type, name: str, lacking: list[str]) -> Any:
    """A PNG's number (often text) as the control takes it, or skipped (and reported when it is not one
    this studio takes)."""
    if value is None:
        return gr.skip()
    try:
        return (check_int if kind is int else check_float)(name, value, low, high)
    except InputError:
        lacking.append(f"{name} {str(value)[:40]} (this studio takes {low}–{high})")
        return gr.skip()


def escaped(value: Any) -> str:
    """A value in one Markdown table cell."""
    text = str(value)[:500]
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
