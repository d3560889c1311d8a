"""The Upscale tab: any image, or any image in the gallery, enlarged ×4 by the upscaler.

Run it alone (with the gallery): `python -m ui.upscale`.
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from engines.errors import InputError
from engines.limits import MAX_UPSCALE_SIDE
from ui.studio import Operation, Studio, TabUI, served
from ui.widgets import UploadedImage, example_images, model_picker, user_errors

TITLE = "Upscale"


def available(studio: Studio) -> bool:
    return bool(studio.engines.registry.bundled("upscale"))


class UpscaleTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def upscale(self, image: str | None, image_id: str | None, model: str, progress=gr.Progress()):
        """An uploaded image, or a gallery image by its id, enlarged ×4; saved to the gallery (naming the
        gallery image it came from). Returns the input (enlarged with hard pixels), the result, a line."""
        if image_id:
            entry = self.studio.gallery.get(image_id, self.studio.owner()) if isinstance(image_id, str) else None
            if entry is None:
                raise InputError(f"there is no image {str(image_id)[:80]!r} in the gallery")
            image = str(entry.path)
        if not image:
            raise InputError("upload an image (or pick one in the gallery and press Upscale ×4 there)")
        result = self.studio.run("upscale", "upscale", progress, image=image, model_id=model, source=image_id or None)
        entry = self.studio.save([(result.image, result.recipe)], inputs=result.inputs)[0]
        original = result.inputs["image"]
        before = original.resize(result.image.size, Image.Resampling.NEAREST)  # the pixels as they were
        line = f"{original.width}×{original.height} → {result.image.width}×{result.image.height} px"
        return before, served(entry.path), f"{line} · saved as `{entry.id}`"

    def layout(self) -> TabUI:
        gr.Markdown(
            "Enlarge any image 4×: the studio's 32 and 64 px art becomes 128 and 256 px, with edges redrawn "
            f"crisp instead of blurred or blocky. Up to {MAX_UPSCALE_SIDE} px a side. An image in the gallery "
            "has its own **Upscale ×4** button there. Every tab can also do this as it draws: tick *Hires ×4*."
        )
        model = model_picker(self.studio.engines, "upscale")
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
        tab.controls = dict(model=model, image=image, image_id=image_id)
        tab.operations = {
            "upscale": Operation(
                "upscale",
                ["image", "image_id", "model"],
                {"image": "inputs.image", "image_id": lambda recipe: "", "model": "model"},
            )
        }
        outputs = [before, after, info]
        tab.saves = [run.click(self.upscale, tab.inputs("upscale"), outputs, api_name="upscale")]
        tab.pickers = {"upscale": model}
        # the gallery panel's "Upscale ×4": the selected image, shown here
        tab.gallery_action = (
            "⤢ Upscale ×4",
            lambda image_id, model: self.upscale(None, image_id, model),
            [model],
            outputs,
        )
        return tab


def build(studio: Studio) -> TabUI:
    return UpscaleTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
