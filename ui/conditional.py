"""The class-conditional tab: a grid of chosen classes, one seed in every class, a morph between two
classes, an X/Y plot of seeds, ψ and classes (ui/compare.py), and the DiT section (ui/dit.py).

Run it alone (with the gallery): `python -m ui.conditional`.

The pickers are built from the checkpoint's atelier.json (engines/labels.py), so the page needs
no model loaded.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from engines.imaging import labelled_grid
from engines.labels import ANY, picker_choices
from engines.limits import MAX_FRAMES, MAX_GRID, MAX_PSI, MAX_SEEDS_PER_CLASS, check_flag
from ui.compare import ALL, NONE, SEED, SamplePlot
from ui.dit import DiTSection
from ui.studio import Operation, Studio, TabUI, hires_of, served, sheet_recipe
from ui.widgets import (
    hires_checkbox,
    model_picker,
    model_settings,
    pixel_gallery,
    seed_input,
    selection_bar,
    strip_outputs,
    user_errors,
)

TITLE = "Class-conditional"


def available(studio: Studio) -> bool:
    return bool(studio.engines.registry.bundled("conditional"))


class ConditionalTab:
    def __init__(self, studio: Studio):
        self.studio = studio

    def choices(self, model: str | None) -> dict[str, list[tuple[str, str]]]:
        """Label set -> (title, name) per class, for the label sets a person picks (first, second)."""
        return picker_choices(model_settings(self.studio.engines, "conditional", model))

    def labels(self, model: str, first: Any, second: Any) -> dict[str, Any]:
        """The pickers' values by the model's label sets, in order (category, style for the emoji model)."""
        return dict(zip(self.choices(model), (first, second), strict=False))

    @user_errors
    def sample(
        self, first: str, second: str, seed: float, count: float, psi: float, model: str, hires: bool = False,
        progress=gr.Progress(),
    ):  # fmt: skip
        """A grid of the chosen classes (category and style by name, or "any"); image i uses seed + i."""
        labels = self.labels(model, first, second)
        results = self.studio.run(
            "conditional", "sample", progress, labels=labels, seed=seed, count=count, psi=psi, model_id=model
        )
        return self.studio.save_all(self.studio.hires(results, hires, progress))

    @user_errors
    def class_grid(
        self, seed: float, count: float, psi: float, model: str, hires: bool = False, as_sheet: bool = False,
        progress=gr.Progress(),
    ):  # fmt: skip
        """One seed, every class: a row per category, then per style, the same `count` seeds in every row;
        each image saved, or with `as_sheet` one labelled sheet of them all (a class a row, a seed a column)."""
        as_sheet = check_flag("one sheet", as_sheet)
        check_flag("Hires ×4", hires)
        rows = self.studio.run("conditional", "class_grid", progress, seed=seed, count=count, psi=psi, model_id=model)
        made = self.studio.hires([result for row in rows for result in row], hires, progress)
        columns = len(rows[0])
        if not as_sheet:
            return self.studio.save_all(made)
        cells = [[r.image for r in made[i : i + columns]] for i in range(0, len(made), columns)]
        first = made[0].recipe
        sheet = labelled_grid(
            cells, [r.recipe["label"] for r in made[::columns]], [f"#{r.recipe['seed']}" for r in made[:columns]]
        )
        params = {"seed": first["params"]["batch_seed"], "count": columns, "psi": first["params"]["psi"]}
        (entry,) = self.studio.save([(sheet, sheet_recipe(first, "class_sheet", params))])
        return [(served(entry.path), "every class, one sheet")]

    @user_errors
    def morph(
        self, label_set: str, start: str, end: str, first: str, second: str, seed: float, frames: float, psi: float,
        model: str, hires: bool = False, progress=gr.Progress(),
    ):  # fmt: skip
        """Morph one label (e.g. category) from one class to another at a fixed seed; a strip and a GIF."""
        labels = self.labels(model, first, second)
        walk = self.studio.run(
            "conditional", "morph", progress,
            label_set=label_set, start=start, end=end, labels=labels, seed=seed, frames=frames, psi=psi,
            model_id=model,
        )  # fmt: skip
        return self.studio.save_strip(self.studio.hires(walk, hires, progress))

    def pickers(self, model: str | None, first: Any = ANY, second: Any = ANY, morph_set: str | None = None):
        """Updates for the class pickers of a model: its label sets and class titles, with these values."""
        sets = self.choices(model)
        names = [*sets, "", ""][:2]
        pickers = [
            gr.update(
                choices=[(ANY, ANY), *sets.get(name, [])],
                value=value,
                label=name.capitalize() or "(unused)",
                visible=bool(name),
            )
            for name, value in zip(names, (first, second), strict=True)
        ]
        morph_set = morph_set if morph_set in sets else next(iter(sets), None)
        return *pickers, gr.update(choices=list(sets), value=morph_set)

    def morph_ends(self, model: str | None, morph_set: str | None, start: Any = None, end: Any = None):
        """Updates for From and To: the classes of the label set being morphed, first and last by default."""
        classes = self.choices(model).get(morph_set or "", [])
        start = start if start is not None else (classes[0][1] if classes else None)
        end = end if end is not None else (classes[-1][1] if classes else None)
        return gr.update(choices=classes, value=start), gr.update(choices=classes, value=end)

    def model_chosen(self, model: str | None):
        """A model chosen by hand: its pickers, at "any", and the morph between its first label set's ends."""
        first, second, morph_set = self.pickers(model)
        return first, second, morph_set, *self.morph_ends(model, morph_set["value"])

    def refine(self, recipe: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """A restored model may have other classes: every picker gets its choices, with the restored values
        (those an operation does not restore start over, as on choosing the model by hand)."""
        if recipe.get("engine") != "conditional":
            return values
        model = values["model"]
        first, second, morph_set = self.pickers(
            model, values.get("first", ANY), values.get("second", ANY), values.get("morph_set")
        )
        start, end = self.morph_ends(model, morph_set["value"], values.get("morph_from"), values.get("morph_to"))
        return values | {"first": first, "second": second, "morph_set": morph_set, "morph_from": start, "morph_to": end}

    def layout(self) -> TabUI:
        gr.Markdown(
            "Choose what to make: a category and an art style (or *any*). See one seed rendered in every class, "
            "or morph one class into another at a fixed seed."
        )
        with gr.Row():
            model = model_picker(self.studio.engines, "conditional")
            psi = gr.Slider(0, MAX_PSI, value=0.8, step=0.05, label="Truncation ψ")
            hires = hires_checkbox(self.studio.engines)
        # (title, name) per class: the pickers show "Food & Drink" and send "food-drink"
        sets = self.choices(model.value)
        with gr.Row():
            first, second = (
                gr.Dropdown(
                    [(ANY, ANY), *sets.get(name, [])],
                    value=ANY,
                    label=name.capitalize() or "(unused)",
                    visible=bool(name),
                    filterable=True,
                    allow_custom_value=True,  # other models have other classes; the engine checks the name
                )
                for name in [*sets, "", ""][:2]
            )
        tab = TabUI("conditional", ("conditional", "dit"), refine=self.refine)
        tab.controls["hires"] = hires  # the DiT section's too
        with gr.Tabs(overflow_behavior="wrap") as mode:
            with gr.Tab("Sample", id="sample"):
                with gr.Row():
                    seed = seed_input()
                    count = gr.Slider(1, MAX_GRID, value=16, step=1, label="Grid size")
                run = gr.Button("Generate", variant="primary")
                grid = pixel_gallery("Images", elem_id="conditional-grid")
                tab.bars.append(selection_bar(grid))
            with gr.Tab("One seed, every class", id="class_grid"):
                with gr.Row():
                    grid_seed = seed_input()
                    grid_count = gr.Slider(1, MAX_SEEDS_PER_CLASS, value=8, step=1, label="Seeds per class")
                with gr.Row(equal_height=True):
                    as_sheet = gr.Checkbox(
                        False, label="Save as one sheet", info="labelled; instead of an entry per image"
                    )
                    every = gr.Button("Every class", variant="primary", scale=2)
                # one row per class: as many columns as seeds per class (the slider updates it), or one sheet
                class_grid = pixel_gallery(
                    "A row per class; each column one seed, the same in every row", 8, elem_id="conditional-classes"
                )
                tab.bars.append(selection_bar(class_grid))
            with gr.Tab("DiT · ImageNet classes", id="dit"):
                DiTSection(self.studio).layout(tab)
            with gr.Tab("Morph", id="morph"):
                with gr.Row():
                    morph_set = gr.Radio(list(sets), value=next(iter(sets), None), label="Morph the")
                    start, end = self.morph_ends(model.value, morph_set.value)
                    morph_from, morph_to = (
                        gr.Dropdown(ends["choices"], value=ends["value"], label=label, allow_custom_value=True)
                        for ends, label in ((start, "From"), (end, "To"))
                    )
                with gr.Row():
                    morph_seed = seed_input()
                    frames = gr.Slider(2, MAX_FRAMES, value=12, step=1, label="Frames")
                morph = gr.Button("Morph", variant="primary")
                strip, gif = strip_outputs()
            with gr.Tab("X/Y plot", id="xy_plot"):
                gr.Markdown("Classes the axes do not set are the pickers' above.")
                plot = SamplePlot(self.studio, "conditional")
                if len(sets) == 2:  # an art style per column, a category per row
                    category, style = sets
                    plot.layout(model, (style, ALL), (category, ALL))
                else:
                    plot.layout(model, (SEED, "0-3"), (NONE, ""))
        tab.controls |= dict(
            model=model, mode=mode, psi=psi, hires=hires, first=first, second=second, seed=seed, count=count,
            grid_seed=grid_seed, grid_count=grid_count, as_sheet=as_sheet, morph_set=morph_set, morph_from=morph_from,
            morph_to=morph_to, morph_seed=morph_seed, frames=frames,
        )  # fmt: skip
        tab.operations |= {
            "sample": Operation(
                "conditional_sample",
                ["first", "second", "seed", "count", "psi", "model", "hires"],
                {"first": picked(0), "second": picked(1), "seed": "params.batch_seed", "count": "params.count",
                 "psi": "params.psi", "model": "model", "hires": hires_of},
                mode="sample",
            ),
            "class_grid": class_grid_operation(as_sheet=False),  # an image of the grid
            "class_sheet": class_grid_operation(as_sheet=True),  # the grid as one sheet
            "morph": Operation(
                "conditional_morph",
                ["morph_set", "morph_from", "morph_to", "first", "second", "morph_seed", "frames", "psi", "model",
                 "hires"],
                {
                    "morph_set": "params.label_set",
                    "morph_from": lambda r: r["params"]["from"][r["params"]["label_set"]],
                    "morph_to": lambda r: r["params"]["to"][r["params"]["label_set"]],
                    "first": picked(0, "from"),
                    "second": picked(1, "from"),
                    "morph_seed": "seed",
                    "frames": "params.frames",
                    "psi": "params.psi",
                    "model": "model",
                    "hires": hires_of,
                },
                mode="morph",
            ),
        }  # fmt: skip
        every_class = every.click(
            self.class_grid, tab.inputs("class_grid"), class_grid, api_name="conditional_class_grid"
        )
        tab.saves += [
            run.click(self.sample, tab.inputs("sample"), grid, api_name="conditional_sample"),
            every_class,
            morph.click(self.morph, tab.inputs("morph"), [strip, gif], api_name="conditional_morph"),
        ]
        # .input, not .change: these reset other pickers when a person changes them; a restore sets
        # every picker itself and must not be undone by them.
        model.input(
            self.model_chosen, model, [first, second, morph_set, morph_from, morph_to], api_visibility="private"
        )
        plot.wire(tab, ["first", "second"], {"first": picked(0), "second": picked(1)})
        axes = [plot.controls["x_axis"], plot.controls["y_axis"]]
        model.input(plot.model_chosen, model, axes, api_visibility="private")
        morph_set.input(self.morph_ends, [model, morph_set], [morph_from, morph_to], api_visibility="private")
        # a row per class: as many columns as seeds per class; a sheet alone: one
        columns = lambda n, sheet: gr.update(columns=1 if sheet else int(n))  # noqa: E731
        grid_count.change(columns, [grid_count, as_sheet], class_grid, api_visibility="private")
        every_class.success(columns, [grid_count, as_sheet], class_grid, api_visibility="private")
        tab.pickers["conditional"] = model
        return tab


def class_grid_operation(as_sheet: bool) -> Operation:
    """One seed, every class: an image's recipe has its grid's seed as `batch_seed`, a sheet's as `seed`."""
    return Operation(
        "conditional_class_grid",
        ["grid_seed", "grid_count", "psi", "model", "hires", "as_sheet"],
        {
            "grid_seed": "params.seed" if as_sheet else "params.batch_seed",
            "grid_count": "params.count",
            "psi": "params.psi",
            "model": "model",
            "hires": hires_of,
            "as_sheet": lambda recipe: as_sheet,
        },
        mode="class_grid",
    )


def picked(position: int, key: str = "labels"):
    """Restore-table field: the class of the picked label set at `position` (0: first picker) in
    recipe["params"][key]; "any" where the model has fewer label sets."""

    def field(recipe: dict[str, Any]) -> Any:
        values = [*recipe["params"][key].values(), ANY, ANY]
        return values[position]

    return field


def build(studio: Studio) -> TabUI:
    return ConditionalTab(studio).layout()


if __name__ == "__main__":
    import app

    app.main(only=__spec__.name)
