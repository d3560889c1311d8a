"""Style mixing, a sub-tab of the GAN tab shown when a StyleGAN-family model is installed: StyleGAN's
grid of row seeds × column seeds, each cell drawn with the row seed's coarse styles (the layers
before the switch: shape, pose) and the column seed's fine ones (colour, finish). The seeds alone
head the rows and columns. The grid is saved as one labelled sheet with its recipe, and each cell
as its own gallery entry unless the artist keeps the sheet alone; reuse settings puts the grid back.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from engines.errors import InputError
from engines.imaging import labelled_grid
from engines.limits import MAX_MIX_SEEDS, check_flag
from ui.compare import expand, keep_cells_checkbox
from ui.studio import Operation, Studio, TabUI, caption, hires_of, served, sheet_recipe
from ui.widgets import display, model_settings, pixel_gallery, selection_bar, user_errors

# what each preset hands the column seed: StyleGAN's coarse (4–8 px), middle and fine (full-size) styles
PRESETS = ("coarse", "middle", "fine")


def style_models(studio: Studio) -> list[str]:
    return [spec.id for spec in studio.engines.registry.bundled("gan") if spec.settings.get("arch") == "style"]


def crossover_presets(layers: list[int]) -> dict[str, int]:
    """Preset -> the first layer drawn with the column seed's styles. coarse: from 16 px on (the row
    seed keeps 4–8 px: shape and pose); middle: the full-size layers; fine: the last layer alone."""
    return {
        "coarse": next(i for i, size in enumerate(layers) if size >= min(16, layers[-1])),
        "middle": layers.index(layers[-1]),
        "fine": len(layers) - 1,
    }


def split_text(layers: list[int], crossover: int) -> str:
    """What the switch means, in sizes: which layers each seed's styles drive."""
    if not 1 <= crossover < len(layers):
        return ""
    sizes = lambda part: f"{part[0]}–{part[-1]} px" if part[0] != part[-1] else f"{part[0]} px"  # noqa: E731
    return (
        f"Rows give layers 1–{crossover} ({sizes(layers[:crossover])}: shape, pose); columns give layers "
        f"{crossover + 1}–{len(layers)} ({sizes(layers[crossover:])}: colour, finish)."
    )


def seed_list(name: str, seeds: Any) -> list[int]:
    """Seeds as typed ("0-3, 7") or as a list (an API client's) -> a list, at most MAX_MIX_SEEDS."""
    if isinstance(seeds, list | tuple):
        return list(seeds)  # the engine checks each seed
    if not isinstance(seeds, str) or not seeds.strip():
        raise InputError(f"give the {name} seeds, separated by commas (0-3 for a range)")
    if len(seeds) > 200:
        raise InputError(f"the {name} seeds are over 200 characters")
    found = [n for item in seeds.split(",") if item.strip() for n in expand(item.strip(), f"{name} seeds")]
    if not 1 <= len(found) <= MAX_MIX_SEEDS:
        raise InputError(f"give 1 to {MAX_MIX_SEEDS} {name} seeds, not {len(found)}")
    return found


def seeds_text(seeds: list[int]) -> str:
    return ", ".join(map(str, seeds))


class StyleMixing:
    def __init__(self, studio: Studio):
        self.studio = studio

    def layers(self, model: str | None) -> list[int]:
        return model_settings(self.studio.engines, "gan", model).get("layers", [])

    @user_errors
    def mix(
        self, row_seeds: Any, column_seeds: Any, crossover: float, psi: float, model: str, hires: bool = False,
        keep_cells: bool = True, progress=gr.Progress(),
    ):  # fmt: skip
        """A style-mixing grid: the sheet, then each cell (the seeds alone first), and what was saved."""
        keep_cells = check_flag("keep every cell", keep_cells)
        check_flag("Hires ×4", hires)
        rows, columns = seed_list("row", row_seeds), seed_list("column", column_seeds)
        grid = self.studio.run(
            "gan", "style_mix", progress,
            row_seeds=rows, column_seeds=columns, crossover=crossover, psi=psi, model_id=model,
        )  # fmt: skip
        made = self.studio.hires([cell for row in grid for cell in row if cell is not None], hires, progress)
        shown = self.studio.save_all(made) if keep_cells else [(display(r.image), caption(r.recipe)) for r in made]
        images = iter(r.image for r in made)
        blank = Image.new("RGB", made[0].image.size, "white")
        sheet = labelled_grid(
            [[blank if cell is None else next(images) for cell in row] for row in grid],
            ["", *(f"#{seed}" for seed in rows)],
            ["", *(f"#{seed}" for seed in columns)],
        )
        params = {k: v for k, v in made[0].recipe["params"].items() if k != "column_seed"}
        (saved,) = self.studio.save(
            [(sheet, sheet_recipe(made[0].recipe, "style_mix_sheet", params | {"keep_cells": keep_cells}))]
        )
        what = "cells and the sheet" if keep_cells else "the sheet alone"
        status = f"Style mixing: {len(rows)} × {len(columns)}, {what} saved. " + split_text(
            self.layers(model), params["crossover"]
        )
        return [(served(saved.path), "style mixing"), *shown], status

    def layout(self, model: gr.Dropdown) -> None:
        """The sub-tab's controls and grid, where the GAN tab places them (`wire` connects them)."""
        chosen = next(iter(style_models(self.studio)), None)
        layers = self.layers(model.value) or self.layers(chosen)
        presets = crossover_presets(layers)
        gr.Markdown(
            "StyleGAN's **style mixing**: each row seed gives its coarse styles (shape, pose), each column seed "
            "its fine ones (colour, finish); the seeds alone head the rows and columns. Needs a StyleGAN model"
            + (f" (e.g. `{chosen}`)." if chosen else ".")
        )
        with gr.Row():
            self.rows = gr.Textbox(
                "0-3", label="Row seeds (coarse styles)", info="comma-separated; 0-3 for a range", elem_id="mix-rows"
            )
            self.columns = gr.Textbox(
                "4-7", label="Column seeds (fine styles)", info=f"up to {MAX_MIX_SEEDS} of each", elem_id="mix-columns"
            )
        with gr.Row(equal_height=True):
            self.preset = gr.Radio(list(PRESETS), value="coarse", label="Switch", scale=1)
            self.crossover = gr.Slider(
                1, len(layers) - 1, value=presets["coarse"], step=1, label="Switch at layer", scale=2,
                info="the layers before it take the row seed's styles",
            )  # fmt: skip
        self.split = gr.Markdown(split_text(layers, presets["coarse"]))
        with gr.Row(equal_height=True):
            self.keep_cells = keep_cells_checkbox()
            self.button = gr.Button("Mix", variant="primary", scale=2)
        self.status = gr.Markdown()
        self.grid = pixel_gallery("The sheet, then each cell", elem_id="gan-mixing")
        self.bar = selection_bar(self.grid)

    def wire(self, tab: TabUI, model: gr.Dropdown) -> None:
        tab.controls |= {
            "mix_rows": self.rows, "mix_columns": self.columns, "crossover": self.crossover,
            "mix_keep_cells": self.keep_cells,
        }  # fmt: skip
        tab.bars.append(self.bar)
        restore = {
            "mix_rows": lambda recipe: seeds_text(recipe["params"]["row_seeds"]),
            "mix_columns": lambda recipe: seeds_text(recipe["params"]["column_seeds"]),
            "crossover": "params.crossover",
            "psi": "params.psi",
            "model": "model",
            "hires": hires_of,
            "mix_keep_cells": lambda recipe: recipe["params"].get("keep_cells", True),
        }
        inputs = ["mix_rows", "mix_columns", "crossover", "psi", "model", "hires", "mix_keep_cells"]
        for operation in ("style_mix", "style_mix_sheet"):  # a cell, or the sheet: either puts the grid back
            tab.operations[operation] = Operation("gan_style_mix", inputs, restore, mode="style_mix")
        mixed = self.button.click(self.mix, tab.inputs("style_mix"), [self.grid, self.status], api_name="gan_style_mix")
        tab.saves.append(mixed)

        def preset_chosen(preset: str, model: str | None):
            layers = self.layers(model)
            return crossover_presets(layers)[preset] if layers and preset in PRESETS else gr.skip()

        def model_chosen(model: str | None):
            layers = self.layers(model)
            return gr.update(maximum=len(layers) - 1) if layers else gr.skip()

        self.preset.input(preset_chosen, [self.preset, model], self.crossover, api_visibility="private")
        self.crossover.change(
            lambda k, m: split_text(self.layers(m), int(k)), [self.crossover, model], self.split,
            api_visibility="private",
        )  # fmt: skip
        model.change(model_chosen, model, self.crossover, api_visibility="private")
