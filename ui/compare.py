"""Compare, a section of the text tab: an X/Y plot, as AUTOMATIC1111's X/Y/Z plot script draws it.
Up to two axes among seed, guidance, steps, scheduler and a prompt's words (S/R: the first value is
searched for in the prompt, each value replaces it); every cell is one text draw, saved as its own
gallery entry, and the sheet with its labelled axes is saved too, with the plot's recipe (reuse
settings puts the whole plot back).

/text_seed_sweep (one prompt, many seeds) stays as it was; here it is a plot with a seed axis.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr

from engines.errors import InputError
from engines.imaging import labelled_grid
from engines.limits import DEFAULT_SCHEDULER, MAX_GUIDANCE, MAX_SEED, MAX_STEPS, SCHEDULERS, check_flag, check_seed
from ui.studio import Operation, Studio, TabUI, hires_of, served
from ui.widgets import user_errors

NONE, SEED, GUIDANCE, STEPS, SCHEDULER, PROMPT = "none", "seed", "guidance", "steps", "scheduler", "prompt S/R"
AXES = [NONE, SEED, GUIDANCE, STEPS, SCHEDULER, PROMPT]
MAX_VALUES = 8  # per axis
MAX_CELLS = 32
MAX_VALUES_CHARS = 1000


def parse_axis(axis: Any, values: Any, prompt: str) -> list[tuple[str, dict[str, Any]]]:
    """An axis and its values as typed ("3, 5, 7.5"; seeds and steps also as a range, "1-4") -> its
    cells: (label, the draw's settings it changes). NONE is one cell that changes nothing."""
    if axis not in AXES:
        raise InputError(f"an axis is one of {', '.join(AXES)}, not {str(axis)[:40]!r}")
    if axis == NONE:
        return [("", {})]
    if not isinstance(values, str) or not values.strip():
        raise InputError(f"give the {axis} axis its values, separated by commas")
    if len(values) > MAX_VALUES_CHARS:
        raise InputError(f"the {axis} axis's values are over {MAX_VALUES_CHARS} characters")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if axis in (SEED, STEPS):
        items = [str(n) for item in items for n in expand(item, axis)]
    if not 1 <= len(items) <= MAX_VALUES:
        raise InputError(f"the {axis} axis takes 1 to {MAX_VALUES} values, not {len(items)}")
    if axis == SEED:
        return [(f"seed {n}", {"seed": check_seed(int(n))}) for n in items]
    if axis == STEPS:
        return [(f"{n} steps", {"steps": checked(n, 1, MAX_STEPS, int, "steps")}) for n in items]
    if axis == GUIDANCE:
        return [
            (f"guidance {g:g}", {"guidance_scale": g})
            for g in (checked(v, 0, MAX_GUIDANCE, float, "guidance") for v in items)
        ]
    if axis == SCHEDULER:
        names = {name.lower(): name for name in [DEFAULT_SCHEDULER, *SCHEDULERS]}
        unknown = [v for v in items if v.lower() not in names]
        if unknown:
            raise InputError(f"unknown scheduler {unknown[0][:40]!r}: use {', '.join(names.values())}")
        return [(names[v.lower()], {"scheduler": names[v.lower()]}) for v in items]
    search = items[0]  # PROMPT: A1111's search/replace
    if search not in prompt:
        raise InputError(f"prompt S/R: the prompt has no {search!r} to replace (the first value is searched for)")
    return [(item, {"prompt": prompt.replace(search, item)}) for item in items]


def expand(item: str, axis: str) -> list[int]:
    """ "7" -> [7]; "1-4" -> [1, 2, 3, 4] (seeds, steps)."""
    match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
    if match:
        low, high = int(match[1]), int(match[2])
        if high < low or high - low >= MAX_VALUES:
            raise InputError(f"the {axis} range {item!r} must go up, by at most {MAX_VALUES} values")
        return list(range(low, high + 1))
    checked(item, 0, MAX_SEED, int, axis)
    return [int(item)]


def checked(value: str, low: float, high: float, kind: type, name: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{name}: {value[:40]!r} is not a number") from None
    if not low <= number <= high or (kind is int and not number.is_integer()):
        raise InputError(f"{name}: {value[:40]} is not a {'whole ' if kind is int else ''}number from {low} to {high}")
    return kind(number)


class Compare:
    def __init__(self, studio: Studio):
        self.studio = studio

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
        xs, ys = parse_axis(x_axis, x_values, prompt), parse_axis(y_axis, y_values, prompt)
        if x_axis == y_axis != NONE:
            raise InputError("the two axes must differ")
        if len(xs) * len(ys) > MAX_CELLS:
            raise InputError(f"{len(xs)} × {len(ys)} cells: a plot holds up to {MAX_CELLS}")
        base = dict(
            prompt=prompt, negative_prompt=negative_prompt, seed=seed, count=1, steps=steps,
            guidance_scale=guidance_scale, scheduler=scheduler, model_id=model,
        )  # fmt: skip
        runs = [base | y | x for _, y in ys for _, x in xs]
        shown, made, complete = yield from self.studio.draw("text", runs, request, hires, save=keep_cells)
        if not complete:
            return
        cells = [result.image for result in made]
        sheet = labelled_grid(
            [cells[r * len(xs) : (r + 1) * len(xs)] for r in range(len(ys))],
            [label for label, _ in ys],
            [label for label, _ in xs],
        )
        # the plot's recipe: the cells' common one, with its axes
        recipe = {k: v for k, v in made[0].recipe.items() if k not in ("id", "created", "seed")}
        recipe |= {
            "operation": "xy_plot",
            "seed": None,
            "prompt": prompt,
            "negative_prompt": negative_prompt or "",
            "params": {
                "seed": seed,
                "steps": steps,
                "guidance_scale": guidance_scale,
                "scheduler": scheduler,
                "x_axis": x_axis,
                "x_values": x_values if x_axis != NONE else "",
                "y_axis": y_axis,
                "y_values": y_values if y_axis != NONE else "",
                "cells": len(made),
                "keep_cells": keep_cells,
            },
        }
        (plot,) = self.studio.save([(sheet, recipe)])
        labels = [" · ".join(filter(None, (y, x))) for y, _ in ys for x, _ in xs]
        cells_shown = [(image, label) for (image, _), label in zip(shown, labels, strict=True)]
        what = "cells and the sheet" if keep_cells else "cells; the sheet alone"
        status = f"X/Y plot: {len(xs)} × {len(ys)} {what} saved to the gallery"
        yield [(served(plot.path), "X/Y plot"), *cells_shown], status

    def layout(self) -> None:
        """The section's controls, where the text tab places it (`wire` connects them)."""
        with gr.Accordion("Compare: an X/Y plot (seeds, guidance, steps, schedulers, prompt words)", open=False):
            with gr.Row():
                x_axis = gr.Dropdown(AXES, value=GUIDANCE, label="X axis", scale=1)
                x_values = gr.Textbox(
                    "3, 5, 7.5", label="X values", info="comma-separated; 1-4 for seeds or steps", scale=3
                )
            with gr.Row():
                y_axis = gr.Dropdown(AXES, value=SEED, label="Y axis", scale=1)
                y_values = gr.Textbox(
                    "0-2", label="Y values", info="prompt S/R: the first word is replaced by each", scale=3
                )
            with gr.Row(equal_height=True):
                keep_cells = gr.Checkbox(True, label="Keep every cell in the gallery", info="off: the sheet alone")
                self.button = gr.Button("Plot", variant="secondary", scale=2)
        self.controls = dict(x_axis=x_axis, x_values=x_values, y_axis=y_axis, y_values=y_values)
        self.keep_cells = keep_cells

    def wire(self, tab: TabUI, outputs: list[Any]) -> Any:
        """The plot's controls, operation (its restore table) and event (returned), on the text tab;
        results go to `outputs`."""
        tab.controls |= self.controls | {"keep_cells": self.keep_cells}
        settings = ["prompt", "negative", "seed", "steps", "guidance", "scheduler", "model"]
        tab.operations["xy_plot"] = Operation(
            "text_xy_plot",
            [*settings, *self.controls, "hires", "keep_cells"],
            {
                "prompt": "prompt",
                "negative": "negative_prompt",
                "seed": "params.seed",
                "steps": "params.steps",
                "guidance": "params.guidance_scale",
                "scheduler": "params.scheduler",
                "model": "model",
                **{name: f"params.{name}" for name in self.controls},
                "hires": hires_of,
                "keep_cells": lambda recipe: recipe["params"].get("keep_cells", True),
            },
        )
        plotted = self.button.click(self.xy_plot, tab.inputs("xy_plot"), outputs, api_name="text_xy_plot")
        tab.saves.append(plotted)
        return plotted
