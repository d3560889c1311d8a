"""The VAE tab: reconstruct an upload, interpolate between two images, sample from the prior.

Run it alone (with the gallery): `python -m ui.vae`.
"""

from __future__ import annotations

import gradio as gr

from engines.errors import InputError
from engines.limits import MAX_SAMPLES, MAX_VAE_FRAMES
from ui.studio import Operation, Studio, TabUI, hires_of
from ui.widgets import (
    UploadedImage,
    display,
    example_images,
    hires_checkbox,
    model_picker,
    pixel_gallery,
    seed_input,
    selection_bar,
    strip_outputs,
    user_errors,
)

TITLE = "VAE"


def available(studio: Studio) -> bool:
    return True  # hub VAEs (and any folder) work even with no bundled one


class VAETab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def reconstruct(self, image: str | None, model: str, progress=gr.Progress()):
        """Encode and decode an image; returns original, reconstruction, difference map and scores."""
        if not image:
            raise InputError("upload an image, or click one of the examples")
        result = self.studio.run("vae", "reconstruct", progress, image=image, model_id=model)
        entry = self.studio.save([(result.reconstruction, result.recipe)], inputs={"image": result.original})[0]
        scores = (
            f"**PSNR** {result.psnr:.2f} dB · **SSIM** {result.ssim:.4f} · "
            f"{result.original.width}×{result.original.height} px · saved as `{entry.id}`"
        )
        return display(result.original), display(result.reconstruction), display(result.heatmap), scores

    @user_errors
    def interpolate(
        self, image_a: str | None, image_b: str | None, frames: float, model: str, hires: bool = False,
        progress=gr.Progress(),
    ):  # fmt: skip
        """Walk the latent space from image A to image B; returns a strip (PNG) and an animated GIF."""
        if not image_a or not image_b:
            raise InputError("upload two images (A and B) to interpolate between")
        walk = self.studio.run(
            "vae", "interpolate", progress, image_a=image_a, image_b=image_b, frames=frames, model_id=model
        )
        return self.studio.save_strip(self.studio.hires(walk, hires, progress))

    @user_errors
    def sample(self, seed: float, count: float, model: str, hires: bool = False, progress=gr.Progress()):
        """Decode latents drawn from the model's prior; image i uses seed + i."""
        results = self.studio.run("vae", "sample", progress, seed=seed, count=count, model_id=model)
        return self.studio.save_all(self.studio.hires(results, hires, progress))

    def describe(self, model: str | None) -> str:
        """What happens to an upload with this model (loads it: run after the page is served)."""
        return self.studio.engines.vae.describe(model) if model else ""

    def layout(self) -> TabUI:
        gr.Markdown(
            "An autoencoder squeezes an image into a small latent grid and paints it back. "
            "See what it keeps, walk between two images, or decode latents drawn at random."
        )
        with gr.Row():
            model = model_picker(self.studio.engines, "vae")
            policy = gr.Markdown()
            # a reconstruction stays at the model's size: it measures the model against its input
            hires = hires_checkbox(self.studio.engines)
        with gr.Tabs(overflow_behavior="wrap") as mode:
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
                    image_b = UploadedImage(
                        type="filepath", image_mode=None, label="Image B", height=200, elem_id="vae-image-b"
                    )
                frames = gr.Slider(2, MAX_VAE_FRAMES, value=8, step=1, label="Frames")
                interpolate = gr.Button("Interpolate", variant="primary")
                # the example pairs stand ~700 px tall: folded, so the controls and the result stay in view
                if example_images():
                    pairs = [list(pair) for pair in zip(example_images()[::2], example_images()[1::2], strict=False)]
                    with gr.Accordion("Example pairs (held-out emoji)", open=False):
                        gr.Examples(pairs, inputs=[image_a, image_b], label=None, examples_per_page=6)
                strip, gif = strip_outputs()
            with gr.Tab("Sample", id="sample"):
                with gr.Row():
                    seed = seed_input()
                    count = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="Images")
                sample = gr.Button("Sample from the prior", variant="primary")
                samples = pixel_gallery("Samples")
                bar = selection_bar(samples)
        tab = TabUI("vae", ("vae",), image_input=("image", "reconstruct"), bars=[bar])
        tab.controls = dict(
            model=model, mode=mode, hires=hires, image=image, image_a=image_a, image_b=image_b, frames=frames,
            seed=seed, count=count,
        )  # fmt: skip
        tab.operations = {
            "reconstruct": Operation(
                "vae_reconstruct", ["image", "model"], {"image": "inputs.image", "model": "model"}, mode="reconstruct"
            ),
            "interpolate": Operation(
                "vae_interpolate",
                ["image_a", "image_b", "frames", "model", "hires"],
                {
                    "image_a": "inputs.image_a",
                    "image_b": "inputs.image_b",
                    "frames": "params.frames",
                    "model": "model",
                    "hires": hires_of,
                },
                mode="interpolate",
            ),
            # one sample alone: the prior's images are decoded one at a time, so seed + i re-makes image i
            "sample": Operation(
                "vae_sample",
                ["seed", "count", "model", "hires"],
                {"seed": "seed", "count": lambda recipe: 1, "model": "model", "hires": hires_of},
                mode="sample",
            ),
        }
        outputs = [original, reconstruction, difference, scores]
        tab.saves = [
            run.click(self.reconstruct, tab.inputs("reconstruct"), outputs, api_name="vae_reconstruct"),
            interpolate.click(self.interpolate, tab.inputs("interpolate"), [strip, gif], api_name="vae_interpolate"),
            sample.click(self.sample, tab.inputs("sample"), samples, api_name="vae_sample"),
        ]
        # the policy describes the chosen model: it follows every change, restores included
        model.change(user_errors(self.describe), model, policy, api_visibility="private")
        tab.pickers = {"vae": model}
        tab.on_load = [(user_errors(self.describe), model, policy)]
        return tab


def build(studio: Studio) -> TabUI:
    return VAETab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
