"""The text tab: a prompt -> images, watched step by step, with a seed sweep and the prompt history.

python -m ui.text       # this tab alone (with the gallery)
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from engines.limits import (
    MAX_BATCHES,
    MAX_DRAW,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STEPS,
    UNTIL_STOP_BATCHES,
    check_flag,
    check_int,
    check_seed,
    draw_defaults,
)
from ui.compare import Compare
from ui.pnginfo import PngInfo
from ui.studio import Operation, Studio, TabUI, hires_of, read_field
from ui.widgets import (
    draw_settings,
    model_settings,
    pixel_gallery,
    seed_input,
    selection_bar,
    user_errors,
)

TITLE = "Text"
HISTORY_ROWS = 10
HISTORY_COLUMNS = ["prompt", "negative prompt", "seed", "images", "steps", "guidance", "scheduler", "model"]
MAX_SWEEP = 16


def available(studio: Studio) -> bool:
    return any(spec.available for spec in studio.engines.registry.models("text"))


class TextTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    @user_errors
    def text_to_image(
        self, prompt: str, negative_prompt: str, seed: float, count: float, steps: float, guidance_scale: float,
        scheduler: str, model: str, hires: bool = False, batches: float = 1, until_stop: bool = False,
        request: gr.Request = None,
    ):  # fmt: skip
        """Images from a prompt (image i uses seed + i); streams previews, then returns the saved images.
        `batches` draws run one after another, each from the next `count` seeds (A1111's batch count);
        `until_stop` keeps drawing batches until Stop (at most UNTIL_STOP_BATCHES)."""
        count = check_int("images", count, 1, MAX_DRAW)
        batches = check_int("batches", batches, 1, MAX_BATCHES)
        until_stop = check_flag("until Stop", until_stop)
        if until_stop:
            batches = UNTIL_STOP_BATCHES
        seed = check_seed(seed, count * (1 if until_stop else batches))  # until Stop: as far as the seeds go
        run = dict(
            prompt=prompt, negative_prompt=negative_prompt, count=count, steps=steps,
            guidance_scale=guidance_scale, scheduler=scheduler, model_id=model,
        )  # fmt: skip
        seeds = [seed + b * count for b in range(batches) if seed + (b + 1) * count - 1 <= MAX_SEED]
        yield from self.studio.draw("text", [run | dict(seed=s) for s in seeds], request, hires)

    @user_errors
    def seed_sweep(
        self, prompt: str, negative_prompt: str, seed: float, count: float, steps: float, guidance_scale: float,
        scheduler: str, model: str, hires: bool = False, request: gr.Request = None,
    ):  # fmt: skip
        """One prompt, `count` seeds side by side (seed, seed + 1, ...), drawn MAX_DRAW at a time."""
        count = check_int("seeds", count, 2, MAX_SWEEP)
        seed = check_seed(seed, count)
        settings = dict(
            prompt=prompt, negative_prompt=negative_prompt, steps=steps, guidance_scale=guidance_scale,
            scheduler=scheduler, model_id=model,
        )  # fmt: skip
        runs = [
            settings | dict(seed=seed + start, count=min(MAX_DRAW, count - start))
            for start in range(0, count, MAX_DRAW)
        ]
        yield from self.studio.draw("text", runs, request, hires)

    @user_errors
    def history(self) -> list[list[Any]]:
        """The visitor's last prompts, newest first: one row per prompt (with its negative prompt and
        model), with the settings of its newest image, so the batches of a loop and the cells of an X/Y
        plot do not push older prompts out (each image's own settings are in the gallery)."""
        rows, seen = [], set()
        for entry in self.studio.gallery.list(1, 200, owner=self.studio.owner()):
            recipe = entry.recipe
            if recipe.get("engine") != "text" or recipe.get("operation") != "text_to_image":  # not plot sheets
                continue
            prompt = (recipe.get("prompt", ""), recipe.get("negative_prompt", ""), recipe.get("model"))
            if prompt in seen:
                continue
            seen.add(prompt)
            guidance, scheduler = recipe["params"].get("guidance_scale"), recipe["params"].get("scheduler")
            seed, count, steps = (read_field(recipe, {}, f"params.{name}") for name in ("batch_seed", "count", "steps"))
            rows.append([*prompt[:2], seed, count, steps, guidance, scheduler, prompt[2]])
            if len(rows) == HISTORY_ROWS:
                break
        return rows

    def defaults(self, model: str | None) -> tuple[int, float]:
        """(steps, guidance scale) the model was made for; Turbo models want 1 step and no guidance."""
        return draw_defaults(model_settings(self.studio.engines, "text", model))

    def layout(self) -> TabUI:
        gr.Markdown(
            "Describe an emoji and watch it form, step by step. The bundled model knows the emoji captions' words "
            "(*cat face*, *red apple*, *rocket*), follows colour words (*a purple cat face*) and tries things it "
            "never saw (*a blue pizza*, *a cat astronaut*). End a prompt with *noto style*, *twemoji style*, *fluent "
            "flat style* or *fluent 3d style* to ask for an art set. On a GPU, "
            "the hub's SD-Turbo and SDXL-Turbo draw 512×512 images in one step."
        )
        model, scheduler, hires = draw_settings(self.studio.engines, "text")
        prompt = gr.Textbox(
            label="Prompt", lines=2, placeholder="a sleepy cat with a party hat, noto style", elem_id="text-prompt"
        )
        negative = gr.Textbox(label="Negative prompt", placeholder="what to steer away from (needs guidance above 1)")
        steps_default, guidance_default = self.defaults(model.value)
        with gr.Row():
            seed = seed_input()
            count = gr.Slider(1, MAX_DRAW, value=4, step=1, label="Images")
            steps = gr.Slider(1, MAX_STEPS, value=steps_default, step=1, label="Steps")
            guidance = gr.Slider(0, MAX_GUIDANCE, value=guidance_default, step=0.5, label="Guidance scale")
        with gr.Row(equal_height=True):
            batches = gr.Slider(1, MAX_BATCHES, value=1, step=1, label="Batches", info="one after another", scale=2)
            until_stop = gr.Checkbox(False, label="Until Stop", info=f"up to {UNTIL_STOP_BATCHES} batches", scale=1)
            run = gr.Button("Generate", variant="primary", scale=4)
            stop = gr.Button("Stop", variant="stop", scale=1)
        status = gr.Markdown(elem_id="text-status")
        images = pixel_gallery("Images (previews while it denoises)", elem_id="text-images")
        bar = selection_bar(images)
        compare = Compare(self.studio)
        compare.layout()
        # the seed sweep's controls: hidden, /text_seed_sweep kept for API callers (Compare plots seeds)
        with gr.Accordion("Seed sweep", open=False, visible=False), gr.Row():
            sweep_count = gr.Slider(2, MAX_SWEEP, value=8, step=1, label="Seeds")
            sweep = gr.Button("Sweep seeds", variant="secondary")
        with gr.Accordion("Prompt history (click a row to reuse it)", open=True):
            history = gr.Dataframe(
                headers=HISTORY_COLUMNS,
                type="array",
                interactive=False,
                wrap=True,
                elem_id="text-history",
            )
        tab = TabUI("text", ("text",), bars=[bar])
        tab.controls = dict(
            prompt=prompt, negative=negative, seed=seed, count=count, steps=steps, guidance=guidance,
            scheduler=scheduler, model=model, hires=hires, sweep_count=sweep_count, batches=batches,
            until_stop=until_stop,
        )  # fmt: skip
        PngInfo(self.studio).layout(tab.controls)  # below the history: read a PNG, send it here
        settings = ["prompt", "negative", "seed", "count", "steps", "guidance", "scheduler", "model", "hires"]
        loop = ["batches", "until_stop"]
        tab.operations = {
            "text_to_image": Operation(
                "text_to_image",
                settings + loop,
                {
                    "prompt": "prompt",
                    "negative": "negative_prompt",
                    "seed": "params.batch_seed",
                    "count": "params.count",
                    "steps": "params.steps",
                    "guidance": "params.guidance_scale",
                    "scheduler": "params.scheduler",
                    "model": "model",
                    "hires": hires_of,
                    "batches": lambda recipe: 1,  # an image comes back with its own batch, once
                    "until_stop": lambda recipe: False,
                },
            )
        }
        outputs = [images, status]
        generated = run.click(self.text_to_image, tab.inputs("text_to_image"), outputs, api_name="text_to_image")
        swept_inputs = [tab.controls[name] for name in settings]
        swept_inputs[settings.index("count")] = sweep_count
        swept = sweep.click(self.seed_sweep, swept_inputs, outputs, api_name="text_seed_sweep")
        for event in (generated, swept):
            event.success(self.history, None, history, api_visibility="private")
        # Stop runs beside the draw it stops (its own queue, no limit).
        stop.click(self.studio.stop, None, None, api_name="text_stop", concurrency_limit=None)
        picked = [tab.controls[name] for name in settings[: len(HISTORY_COLUMNS)]]  # a row's settings, not Hires
        history.select(history_pick, history, picked, api_visibility="private")
        # .input, not .change: a model chosen by hand brings its defaults; a restored one keeps the
        # steps and guidance restored with it.
        model.input(self.defaults, model, [steps, guidance], api_visibility="private")
        tab.saves = [generated, swept]
        compare.wire(tab, outputs).success(self.history, None, history, api_visibility="private")
        tab.pickers = {"text": model}
        tab.on_load.append((self.history, None, history))  # the visitor's own prompts
        return tab


def history_pick(rows: list[list[Any]], event: gr.SelectData):
    """A click on a history row puts its prompt and settings back."""
    row = rows[event.index[0]] if rows and event.index and event.index[0] < len(rows) else None
    if row is None:
        return [gr.skip()] * len(HISTORY_COLUMNS)
    return [value if value is not None else gr.skip() for value in row]


def build(studio: Studio) -> TabUI:
    return TextTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
