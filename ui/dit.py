"""The class-conditional tab's DiT section: any of the 1,000 ImageNet classes from a DiT pipeline."""

from __future__ import annotations

import gradio as gr

from engines.errors import InputError, ModelUnavailable
from engines.limits import MAX_DIT_GUIDANCE, MAX_DRAW, MAX_STEPS
from ui.studio import Operation, Studio, TabUI, hires_of
from ui.widgets import model_picker, pixel_gallery, seed_input, selection_bar, user_errors


class DiTSection:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def sample(
        self, label: str, seed: float, count: float, steps: float, guidance_scale: float, model: str,
        hires: bool = False, request: gr.Request = None,
    ):  # fmt: skip
        """ImageNet-class images from a DiT pipeline (image i uses seed + i); streams progress."""
        run = dict(label=label, seed=seed, count=count, steps=steps, guidance_scale=guidance_scale, model_id=model)
        yield from self.studio.draw("dit", [run], request, hires)

    def class_names(self, model: str | None) -> list[str]:
        """The model's class names (loads it: called after the page is served)."""
        try:
            return self.studio.engines.dit.class_names(model) if model else []
        except (InputError, ModelUnavailable):
            return []  # unavailable here: a name or an index can still be typed

    def choices(self, model: str | None):
        return gr.update(choices=self.class_names(model))

    def first_class(self, model: str | None):
        names = self.class_names(model)
        return gr.update(choices=names, value=names[0] if names else None)

    def layout(self, tab: TabUI) -> None:
        """The section's controls (named dit_*) and its operation, added to the conditional tab."""
        gr.Markdown(
            "Diffusion Transformers from the hub draw any of the 1,000 ImageNet classes at 256×256 (a GPU makes "
            "this practical). This section has its own model and class: type to search the class names."
        )
        model = model_picker(self.studio.engines, "dit")
        with gr.Row():
            label = gr.Dropdown(
                [],
                value=None,
                label="ImageNet class",
                filterable=True,
                allow_custom_value=True,  # the engine checks names (and indices 0–999) with a clear message
                scale=2,
            )
            seed = seed_input()
        with gr.Row():
            count = gr.Slider(1, MAX_DRAW, value=4, step=1, label="Images")
            steps = gr.Slider(1, MAX_STEPS, value=25, step=1, label="Steps (DPM-Solver)")
            guidance = gr.Slider(0, MAX_DIT_GUIDANCE, value=4.0, step=0.5, label="Guidance scale")
        with gr.Row():
            run = gr.Button("Generate", variant="primary", scale=4)
            stop = gr.Button("Stop", variant="stop", scale=1)
        status = gr.Markdown()
        images = pixel_gallery("Images", 4, elem_id="dit-images")
        tab.bars.append(selection_bar(images))
        tab.controls |= dict(
            dit_model=model, dit_label=label, dit_seed=seed, dit_count=count, dit_steps=steps, dit_guidance=guidance
        )
        tab.operations["dit_sample"] = Operation(
            "dit_sample",
            ["dit_label", "dit_seed", "dit_count", "dit_steps", "dit_guidance", "dit_model", "hires"],
            {
                "dit_label": "params.label",
                "dit_seed": "params.batch_seed",
                "dit_count": "params.count",
                "dit_steps": "params.steps",
                "dit_guidance": "params.guidance_scale",
                "dit_model": "model",
                "hires": hires_of,
            },
            mode="dit",
        )
        tab.saves.append(run.click(self.sample, tab.inputs("dit_sample"), [images, status], api_name="dit_sample"))
        stop.click(self.studio.stop, None, None, api_name="dit_stop", api_visibility="private", concurrency_limit=None)
        model.change(self.choices, model, label, api_visibility="private")  # choices only: a restore keeps its class
        tab.pickers["dit"] = model
        tab.on_load.append((self.first_class, model, label))
