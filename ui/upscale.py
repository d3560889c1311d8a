"""The Upscale tab: any image, or any image in the gallery, enlarged ×4 by the upscaler.

Run it alone (with the gallery): `python -m ui.upscale`.
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from engines.errors import InputError
from engines.limits import MAX_UPSCALE_SIDE
from engines.registry import prompted_upscaler
from ui.studio import Operation, Studio, TabUI, served
from ui.widgets import UploadedImage, example_images, model_picker, seed_input, user_errors

TITLE = "Upscale"


def available(studio: Studio) -> bool:
    return bool(studio.engines.registry.bundled("upscale"))


class UpscaleTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def upscale(
        self,
        image: str | None,
        image_id: str | None,
        model: str,
        prompt: str = "",
        seed: int = 0,
        progress=gr.Progress(),
    ):
        """An uploaded image, or a gallery image by its id, enlarged ×4 (a prompt-guided upscaler also
        takes a prompt and a seed); saved to the gallery, naming the gallery image it came from.
        Returns the input (enlarged with hard pixels), the result, a line."""
        if image_id:
            entry = self.studio.gallery.get(image_id, self.studio.owner()) if isinstance(image_id, str) else None
            if entry is None:
                raise InputError(f"there is no image {str(image_id)[:80]!r} in the gallery")
            image = str(entry.path)
        if not image:
            raise InputError("upload an image (or pick one in the gallery and press Upscale ×4 there)")
        result = self.studio.run(
            "upscale",
            "upscale",
            progress,
            image=image,
            model_id=model,
            source=image_id or None,
            prompt=prompt,
            seed=seed,
        )
        entry = self.studio.save([(result.image, result.recipe)], inputs=result.inputs)[0]
        original = result.inputs["image"]
        before = original.resize(result.image.size, Image.Resampling.NEAREST)  # the pixels as they were
        line = f"{original.width}×{original.height} → {result.image.width}×{result.image.height} px"
        return before, served(entry.path), f"{line} · saved as `{entry.id}`"

    def prompted(self, model: str) -> bool:
        try:
            return prompted_upscaler(self.studio.engines.registry.resolve("upscale", model))
        except InputError:
            return False

    def layout(self) -> TabUI:
        gr.Markdown(
            "Enlarge any image 4×: the studio's 32 and 64 px art becomes 128 and 256 px, with edges redrawn "
            f"crisp instead of blurred or blocky. Up to {MAX_UPSCALE_SIDE} px a side. An image in the gallery "
            "has its own **Upscale ×4** button there. Every tab can also do this as it draws: tick *Hires ×4*."
        )
        model = model_picker(self.studio.engines, "upscale")
        with gr.Row(visible=False) as guided:  # for a prompt-guided upscaler (the SD ×4 upscaler) only
            prompt = gr.Textbox("", label="Prompt", placeholder="what the image shows, to guide the redraw", scale=3)
            seed = seed_input()
        model.change(lambda m: gr.update(visible=self.prompted(m)), model, guided, api_visibility="private")
        with gr.Row():
            with gr.Column(scale=1):
                image = UploadedImage(
                    type="filepath", image_mode=None, label="Image", sources=["upload", "clipboard"], height=260
                )
                run = gr.Button("Upscale ×4", variant="primary")
                if example_images():
                    gr.Examples(example_images(), inputs=[image], label="Held-out emoji", examples_per_page=12)
            with gr.Column(scale=2), gr.Row():
                before = gr.Image(label="Before (its pixels, enlarged)", format="png", interactive=False, height=320)
                after = gr.Image(label="Upscaled ×4", format="png", interactive=False, height=320, type="filepath")
        info = gr.Markdown(elem_id="upscale-info")
        image_id = gr.Textbox(visible=False)  # the API's way to name a gallery image instead of a file
        tab = TabUI("upscale", ("upscale",))
        tab.controls = dict(model=model, image=image, image_id=image_id, prompt=prompt, seed=seed)
        tab.operations = {
            "upscale": Operation(
                "upscale",
                ["image", "image_id", "model", "prompt", "seed"],
                {
                    "image": "inputs.image",
                    "image_id": lambda recipe: "",
                    "model": "model",
                    "prompt": lambda recipe: recipe["params"].get("prompt", ""),
                    "seed": lambda recipe: recipe["params"].get("seed", 0),
                },
            )
        }
        outputs = [before, after, info]
        tab.saves = [run.click(self.upscale, tab.inputs("upscale"), outputs, api_name="upscale")]
        tab.pickers = {"upscale": model}
        # the gallery panel's "Upscale ×4": the selected image, shown here
        tab.gallery_action = (
            "⤢ Upscale ×4",
            lambda image_id, model, prompt, seed: self.upscale(None, image_id, model, prompt, seed),
            [model, prompt, seed],
            outputs,
        )
        return tab


def build(studio: Studio) -> TabUI:
    return UpscaleTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
