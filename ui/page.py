"""The page's Blocks, with every call's values checked before Gradio converts them.

Gradio converts each value (a number field rounds, an image field parses a file reference) before a
handler runs, and a value it cannot convert ends the call with an empty error: the API client learns
nothing. Here every call is checked first, field by field against the component that takes it, and
refused with a message that names the parameter (as the API lists it) and says what it accepts:
the count of values, numbers (finite, in range, whole where the field is), choices, text, files.
What passes is what Gradio converts without failing; the engines then check meaning (a seed's range
for a grid, a model's name). Whole numbers are refused when fractional rather than rounded, so a
seed of 1.5 is not silently image 2.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import gradio as gr
from gradio.utils import get_type_hints


def figure(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def shown(value: Any) -> str:
    return repr(value)[:60] + ("…" if len(repr(value)) > 60 else "")


def parameter_names(block_fn: Any) -> list[str]:
    """The names the API gives an event's values: its handler's parameters, less those Gradio fills."""
    try:
        fn = block_fn.fn
        hints = get_type_hints(fn)
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    names = []
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        special = isinstance(p.default, gr.Progress) or hints.get(p.name) in (gr.Request, gr.OAuthProfile | None)
        if not special:
            names.append(p.name)
    return names


def check_value(name: str, block: Any, value: Any) -> None:
    """Raise gr.Error unless Gradio can convert `value` for `block` (the field called `name`)."""
    if isinstance(block, (gr.Number, gr.Slider)):
        if value is None and isinstance(block, gr.Number):
            return
        low, high = block.minimum, block.maximum
        whole = block.precision == 0 or (isinstance(block, gr.Slider) and float(block.step).is_integer())
        span = f" from {figure(low)} to {figure(high)}" if low is not None and high is not None else ""
        kind = f"a whole number{span}" if whole else f"a number{span}"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or (whole and value != int(value)):
            raise gr.Error(f"{name} must be {kind}, not {shown(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise gr.Error(f"{name} must be {kind}, not {shown(value)}")
    elif isinstance(block, (gr.Dropdown, gr.Radio)):
        if getattr(block, "allow_custom_value", False):  # a model picker: any name, checked by the registry
            if value is not None and not isinstance(value, str):
                raise gr.Error(f"{name} must be text (a name), not {shown(value)}")
        elif value is not None and not getattr(block, "multiselect", False):
            values = [c[1] if isinstance(c, tuple | list) else c for c in (block.choices or [])]
            if value not in values:
                listed = ", ".join(map(str, values[:12])) + (", …" if len(values) > 12 else "")
                raise gr.Error(f"{name} must be one of {listed}; not {shown(value)}")
    elif isinstance(block, gr.Textbox):
        if value is not None and not isinstance(value, str):
            raise gr.Error(f"{name} must be text, not {shown(value)}")
    elif isinstance(block, (gr.Image, gr.File)) and value is not None and not is_file_reference(value):
        raise gr.Error(
            f"{name} must be an image file (upload it, then send its reference: handle_file in gradio_client), "
            f"not {shown(value)}"
        )


def is_file_reference(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("path") or value.get("url"), str)


class Page(gr.Blocks):
    """gr.Blocks whose every call is checked, value by value, before Gradio converts it."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        names = parameter_names(block_fn)
        components = block_fn.inputs
        if len(names) != len(components):  # a handler that takes *values: name them by position
            names = [f"value {i + 1}" for i in range(len(components))]
        endpoint = block_fn.api_name or block_fn.name
        if len(inputs) < len(components):
            defaults = [getattr(c, "value", None) for c in components[len(inputs) :]]
            if all(d is not None for d in defaults):
                # a caller of an older API leaves out parameters added since, each with a default
                inputs = [*inputs, *defaults]
        if len(inputs) != len(components):
            wanted = ", ".join(names) or "no values"
            raise gr.Error(f"{endpoint} takes {len(components)} values ({wanted}), not {len(inputs)}")
        for name, block, value in zip(names, components, inputs, strict=True):
            if getattr(block, "stateful", False):  # a gr.State: the server's own value, not the caller's
                continue
            if state is not None and block._id in state:  # as this session's page has it (choices change)
                block = state[block._id]
            check_value(name, block, value)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as error:  # a conversion the checks above did not foresee: still say where
            raise gr.Error(f"{endpoint}: a value could not be read ({type(error).__name__})") from None
