"""Compare: an X/Y plot, as AUTOMATIC1111's X/Y/Z plot script draws it, in the text tab (a section)
and in the GAN and class-conditional tabs (a sub-tab each).

Up to two axes: in the text tab among seed, guidance, steps, scheduler and a prompt's words (S/R: the
first value is searched for in the prompt, each value replaces it); in the GAN tab seed and ψ; in the
class-conditional tab seed, ψ and each label set (category, art style: class names or titles, or
"all"). Every cell is one image made as a single run would make it, saved as its own gallery entry
unless the artist keeps the sheet alone, and the sheet with its labelled axes is saved with the
plot's recipe (reuse settings puts the whole plot back).

/text_seed_sweep (one prompt, many seeds) stays as it was; here it is a plot with a seed axis.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr

from engines.errors import InputError
from engines.imaging import labelled_grid
from engines.labels import picker_choices
from engines.limits import (
    DEFAULT_SCHEDULER,
    MAX_GUIDANCE,
    MAX_PSI,
    MAX_SEED,
    MAX_STEPS,
    SCHEDULERS,
    check_flag,
    check_float,
    check_int,
    check_seed,
)
from ui.studio import Operation, Studio, TabUI, caption, hires_of, served, sheet_recipe
from ui.widgets import display, model_settings, pixel_gallery, seed_input, selection_bar, user_errors

NONE, SEED, PSI, GUIDANCE, STEPS, SCHEDULER = "none", "seed", "ψ", "guidance", "steps", "scheduler"
PROMPT = "prompt S/R"
TEXT_AXES = [NONE, SEED, GUIDANCE, STEPS, SCHEDULER, PROMPT]
GAN_AXES = [NONE, SEED, PSI]  # the class-conditional tab adds its model's label sets
ALL = "all"  # a label set's axis: every class of it
MAX_VALUES = 8  # per axis
MAX_CELLS = 32
MAX_VALUES_CHARS = 1000

Cells = list[tuple[str, dict[str, Any]]]  # an axis: (label, the settings its cell changes) per value


def parse_axis(
    axis: Any, values: Any, axes: list[str], prompt: str = "", classes: dict[str, list[tuple[str, str]]] | None = None
) -> Cells:
    """An axis (one of `axes`) and its values as typed ("3, 5, 7.5"; seeds and steps also as a range,
    "1-4"; a label set's classes by name or title, or "all") -> its cells. NONE is one cell that changes
    nothing. `classes`: the model's label sets, (title, name) per class."""
    if axis not in axes:
        raise InputError(f"an axis is one of {', '.join(axes)}, not {str(axis)[:40]!r}")
    if axis == NONE:
        return [("", {})]
    if not isinstance(values, str) or not values.strip():
        raise InputError(f"give the {axis} axis its values, separated by commas")
    if len(values) > MAX_VALUES_CHARS:
        raise InputError(f"the {axis} axis's values are over {MAX_VALUES_CHARS} characters")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if axis in (SEED, STEPS):
        items = [str(n) for item in items for n in expand(item, axis)]
    if classes and axis in classes and [v.lower() for v in items] == [ALL]:
        items = [name for _, name in classes[axis]]
    if not 1 <= len(items) <= MAX_VALUES:
        raise InputError(f"the {axis} axis takes 1 to {MAX_VALUES} values, not {len(items)}")
    if axis == SEED:
        return [(f"seed {n}", {"seed": check_seed(int(n))}) for n in items]
    if axis == STEPS:
        return [(f"{n} steps", {"steps": check_int("steps", n, 1, MAX_STEPS)}) for n in items]
    if axis == GUIDANCE:
        return [
            (f"guidance {g:g}", {"guidance_scale": g})
            for g in (check_float("guidance", v, 0, MAX_GUIDANCE) for v in items)
        ]
    if axis == PSI:
        return [(f"ψ {p:g}", {"psi": p}) for p in (check_float("ψ", v, 0, MAX_PSI) for v in items)]
    if axis == SCHEDULER:
        names = {name.lower(): name for name in [DEFAULT_SCHEDULER, *SCHEDULERS]}
        unknown = [v for v in items if v.lower() not in names]
        if unknown:
            raise InputError(f"unknown scheduler {unknown[0][:40]!r}: use {', '.join(names.values())}")
        return [(names[v.lower()], {"scheduler": names[v.lower()]}) for v in items]
    if axis == PROMPT:  # A1111's search/replace
        search = items[0]
        if search not in prompt:
            raise InputError(f"prompt S/R: the prompt has no {search!r} to replace (the first value is searched for)")
        return [(item, {"prompt": prompt.replace(search, item)}) for item in items]
    return [(title, {"labels": {axis: name}}) for title, name in (named_class(axis, classes[axis], v) for v in items)]


def named_class(label_set: str, choices: list[tuple[str, str]], value: str) -> tuple[str, str]:
    """A class typed by name or title, in any case -> (title, name)."""
    for title, name in choices:
        if value.casefold() in (title.casefold(), name.casefold()):
            return title, name
    names = ", ".join(name for _, name in choices)
    raise InputError(f"unknown {label_set} {value[:40]!r}: use one of {names}, or {ALL}")


def expand(item: str, axis: str) -> list[int]:
    """ "7" -> [7]; "1-4" -> [1, 2, 3, 4] (seeds, steps)."""
    match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
    if match:
        low, high = int(match[1]), int(match[2])
        if high < low or high - low >= MAX_VALUES:
            raise InputError(f"the {axis} range {item!r} must go up, by at most {MAX_VALUES} values")
        return list(range(low, high + 1))
    check_int(axis, item, 0, MAX_SEED)
    return [int(item)]


def plot_axes(
    x_axis: Any, x_values: Any, y_axis: Any, y_values: Any, axes: list[str], prompt: str = "", classes=None
) -> tuple[Cells, Cells]:
    """Both axes' cells, checked: different axes, at most MAX_CELLS cells in all."""
    xs, ys = parse_axis(x_axis, x_values, axes, prompt, classes), parse_axis(y_axis, y_values, axes, prompt, classes)
    if x_axis == y_axis != NONE:
        raise InputError("the two axes must differ")
    if len(xs) * len(ys) > MAX_CELLS:
        raise InputError(f"{len(xs)} × {len(ys)} cells: a plot holds up to {MAX_CELLS}")
    return xs, ys


def merged(base: dict[str, Any], *changes: dict[str, Any]) -> dict[str, Any]:
    """A cell's settings: the plot's, with each axis's changes (a label set's class joins the others)."""
    run = dict(base)
    for change in changes:
        for key, value in change.items():
            run[key] = run[key] | value if key == "labels" else value
    return run


class Plotter:
    """What every tab's plot does once its cells are made: the labelled sheet, saved with the plot's
    recipe, and the grid's items (the sheet first, then each cell under its axes' labels)."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def finish(
        self, made: list, shown: list[tuple[Any, str]], xs: Cells, ys: Cells, recipe: dict[str, Any],
        params: dict[str, Any], keep_cells: bool,
    ) -> tuple[list[tuple[Any, str]], str]:  # fmt: skip
        """`made`: the cells' results, row by row; `shown`: them as the grid shows them (saved or not);
        `recipe` and `params`: what the plot's recipe adds to the cells' common one."""
        cells = [result.image for result in made]
        sheet = labelled_grid(
            [cells[r * len(xs) : (r + 1) * len(xs)] for r in range(len(ys))],
            [label for label, _ in ys],
            [label for label, _ in xs],
        )
        params = params | {"cells": len(made), "keep_cells": keep_cells}  # with its axes
        (plot,) = self.studio.save([(sheet, sheet_recipe(made[0].recipe, "xy_plot", params, **recipe))])
        labels = [" · ".join(filter(None, (y, x))) for y, _ in ys for x, _ in xs]
        cells_shown = [(image, label) for (image, _), label in zip(shown, labels, strict=True)]
        what = "cells and the sheet" if keep_cells else "cells; the sheet alone"
        return [(served(plot.path), "X/Y plot"), *cells_shown], f"X/Y plot: {len(xs)} × {len(ys)} {what} saved"


def axis_rows(axes: list[str], x: tuple[str, str], y: tuple[str, str], custom: bool = False) -> dict[str, Any]:
    """The two axes' pickers and values, with these defaults: the controls x_axis, x_values, y_axis, y_values."""
    controls = {}
    for name, (axis, values), info in (
        ("x", x, "comma-separated; 1-4 for seeds" + (" or steps" if STEPS in axes else "")),
        ("y", y, "prompt S/R: the first word is replaced by each" if PROMPT in axes else f"classes: names or {ALL}"),
    ):
        with gr.Row():
            controls[f"{name}_axis"] = gr.Dropdown(
                axes, value=axis, label=f"{name.upper()} axis", scale=1, allow_custom_value=custom
            )
            controls[f"{name}_values"] = gr.Textbox(values, label=f"{name.upper()} values", info=info, scale=3)
    return controls


def keep_cells_checkbox() -> gr.Checkbox:
    return gr.Checkbox(True, label="Keep every cell in the gallery", info="off: the sheet alone")


def plot_operation(api_name: str, settings: list[str], restore: dict[str, Any], mode: str | None = None) -> Operation:
    """The "xy_plot" operation of a tab: its settings (restored from `restore`), the axes, Hires, keep cells."""
    axes = ["x_axis", "x_values", "y_axis", "y_values"]
    return Operation(
        api_name,
        [*settings, *axes, "hires", "keep_cells"],
        restore
        | {name: f"params.{name}" for name in axes}
        | {"hires": hires_of, "keep_cells": lambda recipe: recipe["params"].get("keep_cells", True)},
        mode=mode,
    )


class Compare:
    """The text tab's section: each cell one text draw, watched step by step."""

    def __init__(self, studio: Studio):
        self.studio = studio
        self.plotter = Plotter(studio)

    @user_errors
    def xy_plot(
        self, prompt: str, negative_prompt: str, seed: float, steps: float, guidance_scale: float, scheduler: str,
        model: str, x_axis: str, x_values: str, y_axis: str, y_values: str, hires: bool = False,
        keep_cells: bool = True, request: gr.Request = None,
    ):  # fmt: skip
        """An X/Y plot of text draws: a cell per (y, x) value pair, one image each, from these settings
        with the axes' changes; streams progress, then returns the sheet and the cells. The cells are
        saved to the gallery too, unless `keep_cells` is off (the sheet alone)."""
        keep_cells = check_flag("keep every cell", keep_cells)
        prompt = prompt if isinstance(prompt, str) else ""
        seed = check_seed(seed)  # -1: one random seed for the whole plot, not one per cell
        xs, ys = plot_axes(x_axis, x_values, y_axis, y_values, TEXT_AXES, prompt)
        base = dict(
            prompt=prompt, negative_prompt=negative_prompt, seed=seed, count=1, steps=steps,
            guidance_scale=guidance_scale, scheduler=scheduler, model_id=model,
        )  # fmt: skip
        runs = [merged(base, y, x) for _, y in ys for _, x in xs]
        shown, made, complete = yield from self.studio.draw("text", runs, request, hires, save=keep_cells)
        if not complete:
            return
        params = dict(
            seed=seed, steps=steps, guidance_scale=guidance_scale, scheduler=scheduler, x_axis=x_axis,
            x_values=x_values if x_axis != NONE else "", y_axis=y_axis, y_values=y_values if y_axis != NONE else "",
        )  # fmt: skip
        recipe = {"prompt": prompt, "negative_prompt": negative_prompt or ""}
        yield self.plotter.finish(made, shown, xs, ys, recipe, params, keep_cells)

    def layout(self) -> None:
        """The section's controls, where the text tab places it (`wire` connects them)."""
        with gr.Accordion("Compare: an X/Y plot (seeds, guidance, steps, schedulers, prompt words)", open=False):
            self.controls = axis_rows(TEXT_AXES, (GUIDANCE, "3, 5, 7.5"), (SEED, "0-2"))
            with gr.Row(equal_height=True):
                self.keep_cells = keep_cells_checkbox()
                self.button = gr.Button("Plot", variant="secondary", scale=2)

    def wire(self, tab: TabUI, outputs: list[Any]) -> Any:
        """The plot's controls, operation (its restore table) and event (returned), on the text tab;
        results go to `outputs`."""
        tab.controls |= self.controls | {"keep_cells": self.keep_cells}
        settings = ["prompt", "negative", "seed", "steps", "guidance", "scheduler", "model"]
        tab.operations["xy_plot"] = plot_operation(
            "text_xy_plot",
            settings,
            {
                "prompt": "prompt",
                "negative": "negative_prompt",
                "seed": "params.seed",
                "steps": "params.steps",
                "guidance": "params.guidance_scale",
                "scheduler": "params.scheduler",
                "model": "model",
            },
        )
        plotted = self.button.click(self.xy_plot, tab.inputs("xy_plot"), outputs, api_name="text_xy_plot")
        tab.saves.append(plotted)
        return plotted


class SamplePlot:
    """The GAN and class-conditional tabs' sub-tab: each cell one image of the tab's Sample grid (its
    seed, count 1), made in one engine call per cell and counted as one call against the visitor's rate."""

    def __init__(self, studio: Studio, task: str):
        self.studio, self.task = studio, task
        self.plotter = Plotter(studio)

    def classes(self, model: str | None) -> dict[str, list[tuple[str, str]]]:
        return picker_choices(model_settings(self.studio.engines, self.task, model)) if self.task != "gan" else {}

    def axes(self, model: str | None) -> list[str]:
        return [*GAN_AXES, *self.classes(model)]

    def plot(self, labels: dict[str, Any] | None, seed, psi, model, hires, x_axis, x_values, y_axis, y_values,
             keep_cells, progress) -> tuple[list[tuple[Any, str]], str]:  # fmt: skip
        keep_cells = check_flag("keep every cell", keep_cells)
        check_flag("Hires ×4", hires)
        seed = check_seed(seed)  # -1: one random seed for the whole plot
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)  # the plot's, where no axis sets it
        classes = self.classes(model if isinstance(model, str) else None)
        xs, ys = plot_axes(x_axis, x_values, y_axis, y_values, self.axes(model), classes=classes)
        base = dict(seed=seed, count=1, psi=psi, model_id=model) | ({"labels": labels} if labels is not None else {})
        runs = [merged(base, y, x) for _, y in ys for _, x in xs]
        made = [r for results in self.studio.run_each(self.task, "sample", runs, progress) for r in results]
        made = self.studio.hires(made, hires, progress)
        shown = self.studio.save_all(made) if keep_cells else [(display(r.image), caption(r.recipe)) for r in made]
        params = dict(
            seed=seed, psi=psi, x_axis=x_axis, x_values=x_values if x_axis != NONE else "", y_axis=y_axis,
            y_values=y_values if y_axis != NONE else "",
        )  # fmt: skip
        if labels is not None:
            params["labels"] = dict(labels)
        return self.plotter.finish(made, shown, xs, ys, {}, params, keep_cells)

    @user_errors
    def gan_plot(
        self, seed: float, psi: float, model: str, x_axis: str, x_values: str, y_axis: str, y_values: str,
        hires: bool = False, keep_cells: bool = True, progress=gr.Progress(),
    ):  # fmt: skip
        """An X/Y plot of GAN images over seeds and ψ: the sheet, then each cell, and what was saved."""
        return self.plot(None, seed, psi, model, hires, x_axis, x_values, y_axis, y_values, keep_cells, progress)

    @user_errors
    def conditional_plot(
        self, first: str, second: str, seed: float, psi: float, model: str, x_axis: str, x_values: str,
        y_axis: str, y_values: str, hires: bool = False, keep_cells: bool = True, progress=gr.Progress(),
    ):  # fmt: skip
        """An X/Y plot of class-conditional images over seeds, ψ and classes (the pickers' classes where
        no axis sets them): the sheet, then each cell, and what was saved."""
        if not isinstance(model, str):
            raise InputError("choose a model")
        labels = dict(zip(self.classes(model), (first, second), strict=False))
        return self.plot(labels, seed, psi, model, hires, x_axis, x_values, y_axis, y_values, keep_cells, progress)

    def layout(self, model: gr.Dropdown, x: tuple[str, str], y: tuple[str, str]) -> None:
        """The sub-tab's controls and grid, where the tab places them (`wire` connects them)."""
        self.seed = seed_input()
        self.controls = axis_rows(self.axes(model.value), x, y, custom=self.task != "gan")
        with gr.Row(equal_height=True):
            self.keep_cells = keep_cells_checkbox()
            self.button = gr.Button("Plot", variant="primary", scale=2)
        self.status = gr.Markdown()
        self.grid = pixel_gallery("The sheet, then each cell", elem_id=f"{self.task}-plot")
        self.bar = selection_bar(self.grid)

    def wire(self, tab: TabUI, settings: list[str], restore: dict[str, Any]) -> None:
        """The sub-tab's operation (with the tab's `settings` before the plot's own), on the tab."""
        tab.controls |= self.controls | {"plot_seed": self.seed, "keep_cells": self.keep_cells}
        tab.bars.append(self.bar)
        api_name = f"{self.task}_xy_plot"
        tab.operations["xy_plot"] = plot_operation(
            api_name, [*settings, "plot_seed", "psi", "model"],
            restore | {"plot_seed": "params.seed", "psi": "params.psi", "model": "model"}, mode="xy_plot",
        )  # fmt: skip
        handler = self.gan_plot if self.task == "gan" else self.conditional_plot
        tab.saves.append(self.button.click(handler, tab.inputs("xy_plot"), [self.grid, self.status], api_name=api_name))

    def model_chosen(self, model: str | None):
        """Another model: the axes its label sets give (x and y keep their axis where it still has one)."""
        axes = self.axes(model)
        return tuple(gr.update(choices=axes) for _ in range(2))
