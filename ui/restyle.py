"""The Restyle tab: bring your own image and redraw it in another art set (a translator trained as
CycleGAN is), or as a prompt says (image-to-image with a text model).

Run it alone (with the gallery): `python -m ui.restyle`.
"""

from __future__ import annotations

import gradio as gr

from engines.errors import InputError
from engines.limits import MAX_STRENGTH, draw_defaults
from ui.studio import Operation, Studio, TabUI, hires_of
from ui.widgets import (
    UploadedImage,
    draw_controls,
    example_images,
    hires_checkbox,
    model_picker,
    model_settings,
    pixel_gallery,
    selection_bar,
    user_errors,
)

TITLE = "Restyle"
EVERY_SET, AUTO = "all", "auto"  # engines/restyle.py's words for every target set, and a detected source


def available(studio: Studio) -> bool:
    registry = studio.engines.registry
    return bool(registry.bundled("restyle")) or any(spec.available for spec in registry.models("image_to_image"))


class RestyleTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def restyle(
        self, image: str | None, target: str, model: str, strength: float = 1.0, source: str = AUTO,
        hires: bool = False, progress=gr.Progress(),
    ):  # fmt: skip
        """An image redrawn in an art set (`target`: a set's name, or "all": every set but its own),
        `strength` of the way from its own set (`source`: a set's name, or "auto" to detect it); saved
        to the gallery with the image. Returns the translations and a line saying what was done."""
        if not image:
            raise InputError("upload an image (or send one from another tab), then pick an art set")
        results = self.studio.run(
            "restyle", "restyle", progress, image=image, target=target, model_id=model, strength=strength,
            source=source,
        )  # fmt: skip
        shown = self.studio.save_all(self.studio.hires(results, hires, progress))
        params = results[0].recipe["params"]
        titles = {name: title for title, name in self.sets(model)}
        own = titles.get(params["source"], params["source"])
        line = f"drawn in **{own}**" + (" (detected)" if params["source_detected"] else "")
        into = ", ".join(titles.get(r.recipe["params"]["target"], "?") for r in results)
        return shown, f"{line} → {into}, strength {params['strength']:g} · saved to the gallery"

    @user_errors
    def image_to_image(
        self, image: str | None, prompt: str, strength: float, seed: float, steps: float, guidance_scale: float,
        model: str, negative_prompt: str = "", count: float = 4, hires: bool = False, request: gr.Request = None,
    ):  # fmt: skip
        """`count` redrawings of an image as the prompt says (image i from seed + i), its latent noised
        `strength` of the way first (0.05: a touch, 1: a new image); streams previews, then returns the
        saved images."""
        if not image:
            raise InputError("upload an image (or send one from another tab) to redraw")
        run = dict(
            image=image, prompt=prompt, negative_prompt=negative_prompt, strength=strength, seed=seed, count=count,
            steps=steps, guidance_scale=guidance_scale, model_id=model,
        )  # fmt: skip
        yield from self.studio.draw("image_to_image", [run], request, hires)

    def sets(self, model: str | None) -> list[tuple[str, str]]:
        """(title, name) of a translator's art sets: from its atelier.json, else from the model itself."""
        listed = model_settings(self.studio.engines, "restyle", model).get("sets")
        if listed:
            return [(title, name) for name, title in listed]
        return self.studio.engines.restyle.sets(model) if model else []

    @user_errors
    def set_choices(self, model: str | None):
        """The target and source pickers of a model chosen by hand: its own sets."""
        sets = self.sets(model)
        return (
            gr.update(choices=[("every other set", EVERY_SET), *sets], value=EVERY_SET),
            gr.update(choices=[("detect it", AUTO), *sets], value=AUTO),
        )

    def defaults(self, model: str | None) -> tuple[int, float]:
        return draw_defaults(model_settings(self.studio.engines, "image_to_image", model))

    def layout(self) -> TabUI:
        # a translator is a trained model: without one, only image-to-image is offered
        translators = bool(self.studio.engines.registry.bundled("restyle"))
        art_sets = (
            "**Art sets**: redraw it as another emoji set draws (Noto, Twemoji, Fluent flat, Fluent 3D), with a "
            "translator that learned each set's way of drawing from unpaired examples (CycleGAN). "
        )
        gr.Markdown(
            f"Bring your own image. {art_sets if translators else ''}**Image to image**: redraw it as a prompt says "
            "(name an art set: *…, twemoji style*), keeping as much of it as the strength leaves. Images of any "
            "size are padded to a square with white and shrunk to the model's size."
        )
        with gr.Tabs(overflow_behavior="wrap") as mode:
            with gr.Tab("Art sets", id="restyle", visible=translators):
                with gr.Row():
                    model = model_picker(self.studio.engines, "restyle")
                    hires = hires_checkbox(self.studio.engines)
                sets = self.sets(model.value) if model.value else []
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        image = UploadedImage(
                            type="filepath", image_mode=None, label="Image", sources=["upload", "clipboard"],
                            height=260, elem_id="restyle-image",
                        )  # fmt: skip
                        if example_images():
                            with gr.Accordion("Held-out emoji to try", open=False):
                                gr.Examples(example_images(), inputs=[image], label=None, examples_per_page=12)
                    with gr.Column(scale=1, min_width=280):
                        # the sets are the model's: any name is let through to the engine, which checks it
                        target = gr.Dropdown(
                            [("every other set", EVERY_SET), *sets], value=EVERY_SET, label="Draw it in",
                            allow_custom_value=True,
                        )  # fmt: skip
                        strength = gr.Slider(
                            0, MAX_STRENGTH, value=1, step=0.05, label="Strength",
                            info="how far from its own set's drawing to the target's (the model's own condition); "
                            "past 1, further still: more of the set, less of the emoji",
                        )  # fmt: skip
                        source = gr.Dropdown(
                            [("detect it", AUTO), *sets], value=AUTO, label="Its own art set", allow_custom_value=True,
                            info="detect it: a classifier trained beside the translator names the set",
                        )  # fmt: skip
                        run = gr.Button("Restyle", variant="primary")
                info = gr.Markdown(elem_id="restyle-info")
                translations = pixel_gallery("In each set", 4, elem_id="restyle-images")
                bar = selection_bar(translations)
            with gr.Tab("Image to image", id="image_to_image"):
                with gr.Row():
                    i2i_model = model_picker(self.studio.engines, "image_to_image")
                    i2i_hires = hires_checkbox(self.studio.engines)
                steps_default, guidance_default = self.defaults(i2i_model.value)
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        i2i_image = UploadedImage(
                            type="filepath", image_mode=None, label="Image", sources=["upload", "clipboard"],
                            height=260, elem_id="i2i-image",
                        )  # fmt: skip
                        if example_images():
                            with gr.Accordion("Held-out emoji to try", open=False):
                                gr.Examples(example_images(), inputs=[i2i_image], label=None, examples_per_page=12)
                    with gr.Column(scale=1, min_width=280):
                        prompt = gr.Textbox(
                            label="Prompt: what to make of it", lines=2, placeholder="a red cat face, twemoji style",
                            elem_id="i2i-prompt",
                        )  # fmt: skip
                        negative = gr.Textbox(label="Negative prompt", placeholder="needs guidance above 1")
                        i2i_strength = gr.Slider(
                            0.05, 1, value=0.6, step=0.05, label="Strength",
                            info="how much is redrawn: 0.05 a touch, 1 a new image",
                        )  # fmt: skip
                        seed, count, steps, guidance, redraw, stop = draw_controls(
                            steps_default, guidance_default, "Redraw"
                        )
                status = gr.Markdown(elem_id="i2i-status")
                redrawn = pixel_gallery("Redrawn (previews while it denoises)", 4, elem_id="i2i-images")
                i2i_bar = selection_bar(redrawn)
        sent_to = ("image", "restyle") if translators else ("i2i_image", "image_to_image")  # a shown sub-tab
        tab = TabUI("restyle", ("restyle", "image_to_image"), image_input=sent_to, bars=[bar, i2i_bar])
        tab.controls = dict(
            mode=mode, model=model, hires=hires, image=image, target=target, strength=strength, source=source,
            i2i_model=i2i_model, i2i_hires=i2i_hires, i2i_image=i2i_image, prompt=prompt, negative=negative,
            i2i_strength=i2i_strength, seed=seed, count=count, steps=steps, guidance=guidance,
        )  # fmt: skip
        tab.operations = {
            "restyle": Operation(
                "restyle",
                ["image", "target", "model", "strength", "source", "hires"],
                {
                    "image": "inputs.image",
                    "target": "params.target",
                    "model": "model",
                    "strength": "params.strength",
                    "source": restored_source,
                    "hires": hires_of,
                },
                mode="restyle",
            ),
            "image_to_image": Operation(
                "image_to_image",
                ["i2i_image", "prompt", "i2i_strength", "seed", "steps", "guidance", "i2i_model", "negative", "count",
                 "i2i_hires"],
                {
                    "i2i_image": "inputs.image",
                    "prompt": "prompt",
                    "i2i_strength": "params.strength",
                    "seed": "params.batch_seed",
                    "steps": "params.steps",
                    "guidance": "params.guidance_scale",
                    "i2i_model": "model",
                    "negative": "negative_prompt",
                    "count": "params.count",
                    "i2i_hires": hires_of,
                },
                mode="image_to_image",
            ),
        }  # fmt: skip
        restyled = run.click(self.restyle, tab.inputs("restyle"), [translations, info], api_name="restyle")
        drawn = redraw.click(
            self.image_to_image, tab.inputs("image_to_image"), [redrawn, status], api_name="image_to_image"
        )
        stop.click(self.studio.stop, None, None, api_visibility="private", concurrency_limit=None)
        # .input: a model chosen by hand brings its sets and defaults; a restored one keeps what came with it
        model.input(self.set_choices, model, [target, source], api_visibility="private")
        i2i_model.input(self.defaults, i2i_model, [steps, guidance], api_visibility="private")
        tab.saves = [restyled, drawn]
        tab.pickers = {"restyle": model, "image_to_image": i2i_model}
        return tab


def restored_source(recipe: dict) -> str:
    """A detected source is restored as "detect it", so the control says what was asked."""
    return AUTO if recipe["params"]["source_detected"] else recipe["params"]["source"]


def build(studio: Studio) -> TabUI:
    return RestyleTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
