"""The Edit tab: inpaint (paint over a part of an image, say what goes there) and denoise.

Run it alone (with the gallery): `python -m ui.edit`.

The page paints the mask in a gr.ImageEditor; Inpaint first splits the editor into the image and
the mask (the brush strokes, or an uploaded mask), then calls /inpaint with them, the endpoint an
API client calls with an image and a mask of its own.
"""

from __future__ import annotations

import secrets
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from engines.errors import InputError
from engines.imaging import load_image
from engines.limits import DENOISERS, EDGES, EDIT_NOISES, draw_defaults
from ui.studio import Operation, Studio, TabUI, hires_of
from ui.widgets import (
    UploadedImage,
    display,
    draw_controls,
    draw_settings,
    example_images,
    model_settings,
    pixel_gallery,
    seed_input,
    selection_bar,
    user_errors,
)

TITLE = "Edit"


def available(studio: Studio) -> bool:
    return any(spec.available for spec in studio.engines.registry.models("edit"))


class EditTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def split(self, editor: dict[str, Any] | None, mask: str | None):
        """The editor's image and its mask as two files: the brush strokes (any painted pixel), or, with
        none painted, the uploaded mask."""
        background = (editor or {}).get("background")
        if not background:
            raise InputError("upload an image to edit (or send one from another tab), then paint over a part")
        image = load_image(background)
        painted = np.zeros((image.height, image.width), bool)
        for layer in (editor or {}).get("layers") or []:
            strokes = Image.open(layer).convert("RGBA")
            if strokes.size != image.size:  # the canvas may hold the layer at another size
                strokes = strokes.resize(image.size, Image.Resampling.NEAREST)
            painted |= np.asarray(strokes)[..., 3] > 0
        self.studio.clean_scratch()
        name = f"edit-{secrets.token_hex(8)}"  # a visitor's own: two visitors' "image.png" never meet
        image_path = self.studio.scratch / f"{name}.png"
        image.save(image_path)
        if painted.any():
            mask_path = self.studio.scratch / f"{name}-mask.png"
            Image.fromarray(painted.astype(np.uint8) * 255, "L").save(mask_path)
            return str(image_path), str(mask_path)
        if not mask:
            raise InputError("paint over the part to change with the brush (or upload a mask: white where to repaint)")
        return str(image_path), mask

    @user_errors
    def inpaint(
        self, image: str | None, mask: str | None, prompt: str, negative_prompt: str, seed: float, count: float,
        steps: float, guidance_scale: float, scheduler: str, model: str, hires: bool = False,
        edge: str = "seamless", request: gr.Request = None,
    ):  # fmt: skip
        """Fill the mask (white: repaint) of an image: `count` fills (image i from seed + i) of what the
        prompt says (it may be empty), put into the image with an `edge`: "seamless" (cloned in, its
        colours meeting the image's at the mask's edge) or "soft" (faded in over a couple of pixels).
        Streams previews, then returns the saved images. Pixels away from the mask are the image's own."""
        if not image:
            raise InputError("give an image to edit")
        run = dict(
            image=image, mask=mask, prompt=prompt, negative_prompt=negative_prompt, seed=seed, count=count,
            steps=steps, guidance_scale=guidance_scale, scheduler=scheduler, model_id=model, edge=edge,
        )  # fmt: skip
        yield from self.studio.draw("edit", [run], request, hires)

    @user_errors
    def denoise(
        self, image: str | None, noise: str, amount: float, seed: float, model: str, denoiser: str = "network",
        strength: float = 0.3, progress=gr.Progress(),
    ):  # fmt: skip
        """Clean an image: as it is (noise "none"), or with seeded noise of a kind and amount added first
        (then PSNR/SSIM compare the noisy and the cleaned image with the original). `denoiser`: "network"
        (the trained denoiser, the best measured), "vae" (the model's VAE reconstruction) or "diffusion"
        (a pass at `strength`).
        Returns the noisy image, the cleaned one and the scores."""
        if not image:
            raise InputError("upload an image to denoise")
        made = self.studio.run(
            "edit", "denoise", progress,
            image=image, noise=noise, amount=amount, seed=seed, denoiser=denoiser, strength=strength, model_id=model,
        )  # fmt: skip
        result = made["result"]
        entry = self.studio.save([(result.image, result.recipe)], inputs=result.inputs)[0]
        measured = made["scores"]
        if measured:
            (noisy_psnr, noisy_ssim), (clean_psnr, clean_ssim) = measured["noisy"], measured["cleaned"]
            text = (
                f"against the original: noisy **{noisy_psnr:.2f} dB** · SSIM {noisy_ssim:.4f} → cleaned "
                f"**{clean_psnr:.2f} dB** · SSIM {clean_ssim:.4f} (**{clean_psnr - noisy_psnr:+.2f} dB**)"
            )
        else:
            text = "no clean original to compare with (noise: none)"
        return display(made["noisy"]), display(result.image), f"{text} · saved as `{entry.id}`"

    def defaults(self, model: str | None) -> tuple[int, float]:
        return draw_defaults(model_settings(self.studio.engines, "edit", model))

    def layout(self) -> TabUI:
        gr.Markdown(
            "**Inpaint**: paint over a part of an image and say what goes there (or nothing); only the painted "
            "part changes, its colours meeting the image's at the edge, and the rest keeps its pixels. "
            "**Denoise**: clean an image, or add noise of a kind first to see how much comes back."
        )
        model, scheduler, hires = draw_settings(self.studio.engines, "edit")
        steps_default, guidance_default = self.defaults(model.value)
        with gr.Tabs(overflow_behavior="wrap") as mode:
            with gr.Tab("Inpaint", id="inpaint"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        editor = gr.ImageEditor(
                            type="filepath",
                            label="Image: paint over the part to change",
                            sources=["upload", "clipboard"],
                            brush=gr.Brush(default_size=6, colors=["#ff00ff"], color_mode="fixed"),  # px of the image
                            layers=False,
                            transforms=(),
                            height=360,
                            elem_id="edit-editor",
                            elem_classes="pixelated",
                        )
                        with gr.Accordion("Mask image (instead of painting)", open=False):
                            mask_upload = UploadedImage(
                                type="filepath",
                                image_mode=None,
                                label="Mask: white where to repaint",
                                sources=["upload", "clipboard"],
                                height=200,
                                elem_id="edit-mask",
                            )
                        if example_images():
                            with gr.Accordion("Held-out emoji to try", open=False):
                                gr.Examples(example_images(), inputs=[editor], label=None, examples_per_page=12)
                    with gr.Column(scale=1, min_width=300):
                        prompt = gr.Textbox(
                            label="Prompt: what goes there", lines=2, placeholder="grinning face, noto style",
                            elem_id="edit-prompt",
                        )  # fmt: skip
                        negative = gr.Textbox(label="Negative prompt", placeholder="needs guidance above 1")
                        edge = gr.Radio(
                            list(EDGES), value="seamless", label="Edge",
                            info="seamless: the fill's colours meet the image's; soft: faded in over a couple of px",
                        )  # fmt: skip
                        seed, count, steps, guidance, run, stop = draw_controls(
                            steps_default, guidance_default, "Inpaint"
                        )
                status = gr.Markdown(elem_id="edit-status")
                fills = pixel_gallery("Inpainted (previews while it denoises)", 4, elem_id="edit-fills")
                bar = selection_bar(fills)
                # what /inpaint takes: the editor split into an image and a mask
                image, mask = (UploadedImage(type="filepath", image_mode=None, visible=False) for _ in range(2))
            with gr.Tab("Denoise", id="denoise"), gr.Row():
                with gr.Column(scale=1, min_width=300):
                    noisy_input = UploadedImage(
                        type="filepath",
                        image_mode=None,
                        label="Image",
                        sources=["upload", "clipboard"],
                        height=260,
                        elem_id="edit-denoise-image",
                    )
                    with gr.Row():
                        noise = gr.Radio(
                            list(EDIT_NOISES), value="gaussian", label="Add noise first", info="none: it is noisy"
                        )
                        amount = gr.Slider(0, 1, value=0.2, step=0.05, label="Amount")
                    noise_seed = seed_input("Noise seed", 0)
                    network = bool(self.studio.engines.registry.bundled("denoise"))
                    denoiser = gr.Radio(
                        list(DENOISERS if network else DENOISERS[1:]),  # the network when one is installed
                        value="network" if network else "vae",
                        label="Denoiser",
                        info="network: the trained denoiser (best measured); vae: the model's VAE; diffusion: a pass",
                    )
                    clean = gr.Button("Denoise", variant="primary")
                with gr.Column(scale=2):
                    with gr.Row(elem_classes="pixelated"):
                        noisy = gr.Image(label="Noisy", format="png", interactive=False, height=300)
                        cleaned = gr.Image(label="Cleaned (saved)", format="png", interactive=False, height=300)
                    scores = gr.Markdown(elem_id="edit-scores")
        tab = TabUI("edit", ("edit",), image_input=("editor", "inpaint"), bars=[bar])
        tab.controls = dict(
            model=model, mode=mode, scheduler=scheduler, hires=hires, editor=editor, mask_upload=mask_upload,
            image=image, mask=mask, prompt=prompt, negative=negative, seed=seed, count=count, steps=steps,
            guidance=guidance, edge=edge, noisy_input=noisy_input, noise=noise, amount=amount, noise_seed=noise_seed,
            denoiser=denoiser,
        )  # fmt: skip
        tab.operations = {
            # restored: the image into the editor and its mask as the upload (what Inpaint uses unpainted)
            "inpaint": Operation(
                "inpaint",
                ["image", "mask", "prompt", "negative", "seed", "count", "steps", "guidance", "scheduler", "model",
                 "hires", "edge"],
                {
                    "editor": "inputs.image",
                    "mask_upload": "inputs.mask",
                    "image": "inputs.image",
                    "mask": "inputs.mask",
                    "prompt": "prompt",
                    "negative": "negative_prompt",
                    "seed": "params.batch_seed",
                    "count": "params.count",
                    "steps": "params.steps",
                    "guidance": "params.guidance_scale",
                    "scheduler": "params.scheduler",
                    "model": "model",
                    "hires": hires_of,
                    "edge": lambda recipe: recipe["params"].get("edge", "soft"),  # older fills: faded in
                },
                mode="inpaint",
            ),
            "denoise": Operation(
                "denoise",
                ["noisy_input", "noise", "amount", "noise_seed", "model", "denoiser"],
                {"noisy_input": "inputs.image", "noise": "params.noise", "amount": "params.amount",
                 "noise_seed": "seed", "denoiser": "params.denoiser",
                 "model": lambda recipe: recipe["params"].get("edit_model", recipe["model"])},
                mode="denoise",
            ),
        }  # fmt: skip
        split = run.click(self.split, [editor, mask_upload], [image, mask], api_visibility="private")
        painted = split.success(self.inpaint, tab.inputs("inpaint"), [fills, status], api_name="inpaint")
        stop.click(self.studio.stop, None, None, api_visibility="private", concurrency_limit=None)
        denoised = clean.click(self.denoise, tab.inputs("denoise"), [noisy, cleaned, scores], api_name="denoise")
        model.input(self.defaults, model, [steps, guidance], api_visibility="private")
        tab.saves = [painted, denoised]
        tab.pickers = {"edit": model}
        return tab


def build(studio: Studio) -> TabUI:
    return EditTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
