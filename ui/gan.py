"""The GAN tab: a seeded grid, variations around one image, a walk between two seeds, an X/Y plot
of seeds and ψ (ui/compare.py), and with a StyleGAN-family model style mixing (ui/mixing.py).

Run it alone (with the gallery): `python -m ui.gan`.
"""

from __future__ import annotations

import gradio as gr

from engines.limits import MAX_FRAMES, MAX_GRID, MAX_PSI, MAX_SEED, RANDOM_SEED
from ui.compare import PSI, SEED, SamplePlot
from ui.mixing import StyleMixing, style_models
from ui.studio import Operation, Studio, TabUI, hires_of
from ui.widgets import (
    hires_checkbox,
    model_picker,
    pixel_gallery,
    seed_input,
    selection_bar,
    strip_outputs,
    user_errors,
)

TITLE = "GAN"


def available(studio: Studio) -> bool:
    return bool(studio.engines.registry.bundled("gan"))


class GANTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def sample(self, seed: float, count: float, psi: float, model: str, hires: bool = False, progress=gr.Progress()):
        """A grid of new images: image i uses seed + i, truncated by psi; enlarged ×4 with hires."""
        results = self.studio.run("gan", "sample", progress, seed=seed, count=count, psi=psi, model_id=model)
        return self.studio.save_all(self.studio.hires(results, hires, progress))

    @user_errors
    def variations(
        self, seed: float, psi: float, strength: float, count: float, variation_seed: float, model: str,
        hires: bool = False, progress=gr.Progress(),
    ):  # fmt: skip
        """Variations around the image of `seed`: its latent plus noise of the given strength."""
        results = self.studio.run(
            "gan", "variations", progress,
            seed=seed, psi=psi, strength=strength, count=count, variation_seed=variation_seed, model_id=model,
        )  # fmt: skip
        return self.studio.save_all(self.studio.hires(results, hires, progress))

    @user_errors
    def interpolate(
        self, seed_a: float, seed_b: float, frames: float, psi: float, model: str, hires: bool = False,
        progress=gr.Progress(),
    ):  # fmt: skip
        """A walk from seed A to seed B (spherical in z; straight in w for a StyleGAN model); returns a strip
        (PNG) and an animated GIF."""
        walk = self.studio.run(
            "gan", "interpolate", progress, seed_a=seed_a, seed_b=seed_b, frames=frames, psi=psi, model_id=model
        )
        return self.studio.save_strip(self.studio.hires(walk, hires, progress))

    @user_errors
    def seed_of_clicked(self, grid: list, event: gr.SelectData):
        """The clicked image's own seed, as its recipe has it (with seed -1 the grid's seed was drawn)."""
        entry = self.studio.picked(grid, event.index)
        return entry.recipe["seed"] if entry else gr.skip()

    def layout(self) -> TabUI:
        gr.Markdown(
            "A GAN dreams up new emoji-like images from random numbers. Make a grid, click an image to explore "
            "around it, or walk from one seed to another. **Truncation ψ** pulls every image towards the average: "
            "1 is the full variety, lower is cleaner and more typical, 0 gives the single average image "
            "(a DCGAN scales its latent z; a StyleGAN model pulls its style w towards the mean style w̄)."
        )
        with gr.Row():
            model = model_picker(self.studio.engines, "gan")
            psi = gr.Slider(0, MAX_PSI, value=0.8, step=0.05, label="Truncation ψ")
            hires = hires_checkbox(self.studio.engines)
        with gr.Tabs(overflow_behavior="wrap") as mode:
            with gr.Tab("Sample", id="sample"):
                with gr.Row():
                    seed = seed_input()
                    count = gr.Slider(1, MAX_GRID, value=16, step=1, label="Grid size")
                run = gr.Button("Generate", variant="primary")
                grid = pixel_gallery("Click an image to explore around it", allow_preview=False, elem_id="gan-grid")
                bars = [selection_bar(grid)]
                with gr.Group():
                    gr.Markdown("**Explore** variations around one image: its latent plus a little seeded noise.")
                    with gr.Row():
                        selected = gr.Number(
                            value=0, label="Image seed", precision=0, minimum=RANDOM_SEED, maximum=MAX_SEED
                        )
                        strength = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="Strength")
                        variations = gr.Slider(1, MAX_GRID, value=8, step=1, label="Variations")
                        variation_seed = gr.Number(
                            value=1, label="Variation seed", precision=0, minimum=RANDOM_SEED, maximum=MAX_SEED
                        )
                    explore = gr.Button("Explore", variant="secondary")
                    explored = pixel_gallery("Variations", elem_id="gan-variations")
                    bars.append(selection_bar(explored))
            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row():
                    seed_a = seed_input("Seed A", 0)
                    seed_b = seed_input("Seed B", 1)
                    frames = gr.Slider(2, MAX_FRAMES, value=12, step=1, label="Frames")
                walk = gr.Button("Interpolate", variant="primary")
                strip, gif = strip_outputs()
            with gr.Tab("X/Y plot", id="xy_plot"):
                plot = SamplePlot(self.studio, "gan")
                plot.layout(model, (PSI, "0.4, 0.7, 1.0"), (SEED, "0-3"))
            mixing = StyleMixing(self.studio) if style_models(self.studio) else None
            if mixing:  # a sub-tab only where a model can mix
                with gr.Tab("Style mixing", id="style_mix"):
                    mixing.layout(model)
        tab = TabUI("gan", ("gan",), bars=bars)
        tab.controls = dict(
            model=model, mode=mode, psi=psi, hires=hires, seed=seed, count=count, selected=selected, strength=strength,
            variations=variations, variation_seed=variation_seed, seed_a=seed_a, seed_b=seed_b, frames=frames,
        )  # fmt: skip
        tab.operations = {
            "sample": Operation(
                "gan_sample",
                ["seed", "count", "psi", "model", "hires"],
                {"seed": "params.batch_seed", "count": "params.count", "psi": "params.psi", "model": "model",
                 "hires": hires_of},
                mode="sample",
            ),
            "variation": Operation(
                "gan_variations",
                ["selected", "psi", "strength", "variations", "variation_seed", "model", "hires"],
                {
                    "selected": "seed",
                    "psi": "params.psi",
                    "strength": "params.strength",
                    "variations": "params.count",
                    "variation_seed": "params.variation_seed",
                    "model": "model",
                    "hires": hires_of,
                },
                mode="sample",
            ),
            "interpolate": Operation(
                "gan_interpolate",
                ["seed_a", "seed_b", "frames", "psi", "model", "hires"],
                {"seed_a": "seed", "seed_b": "params.seed_b", "frames": "params.frames", "psi": "params.psi",
                 "model": "model", "hires": hires_of},
                mode="interpolate",
            ),
        }  # fmt: skip
        generated = run.click(self.sample, tab.inputs("sample"), grid, api_name="gan_sample")
        grid.select(self.seed_of_clicked, grid, selected, api_visibility="private")
        explored_event = explore.click(self.variations, tab.inputs("variation"), explored, api_name="gan_variations")
        walked = walk.click(self.interpolate, tab.inputs("interpolate"), [strip, gif], api_name="gan_interpolate")
        tab.saves = [generated, explored_event, walked]
        plot.wire(tab, [], {})
        if mixing:
            mixing.wire(tab, model)
        tab.pickers = {"gan": model}
        return tab


def build(studio: Studio) -> TabUI:
    return GANTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
