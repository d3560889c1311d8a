"""The image metadata contract: an A1111-style `parameters` text chunk plus the full recipe as JSON.

Other tools (A1111, ComfyUI, exiftool, civitai) read `parameters`; Atelier reads `atelier`.
"""

from __future__ import annotations

import json
from typing import Any

from PIL import Image, PngImagePlugin

JSON_KEY = "atelier"
PARAMETERS_KEY = "parameters"


def a1111_parameters(recipe: dict[str, Any], size: tuple[int, int]) -> str:
    """'prompt\\nNegative prompt: ...\\nSteps: 20, Sampler: ..., Seed: 1, Size: 64x64, Model: ...'."""
    params = recipe.get("params", {})
    fields = {
        "Steps": params.get("steps"),
        "Sampler": params.get("sampler") or params.get("scheduler"),  # the one used, not "model default"
        "CFG scale": params.get("guidance_scale"),
        "Seed": recipe.get("seed"),
        "Size": f"{size[0]}x{size[1]}",
        "Model hash": recipe.get("model_hash"),
        "Model": recipe.get("model"),
        "Class": recipe.get("label"),  # class-conditional and DiT images: what was asked for, in words
        "Engine": f"{recipe.get('engine')}/{recipe.get('operation')}",
    }
    hires = recipe.get("hires") if isinstance(recipe.get("hires"), dict) else {}
    fields |= {"Hires upscale": hires.get("scale"), "Hires upscaler": hires.get("upscaler")}  # A1111's names
    fields.update(
        {
            k.replace("_", " ").capitalize(): v
            for k, v in params.items()
            if k not in ("steps", "scheduler", "sampler", "guidance_scale") and isinstance(v, (int, float, str))
        }
    )
    line = ", ".join(f"{k}: {str(v).replace(',', ' ')}" for k, v in fields.items() if v not in (None, ""))
    text = recipe.get("prompt") or ""
    if recipe.get("negative_prompt"):
        text += f"\nNegative prompt: {recipe['negative_prompt']}"
    return f"{text}\n{line}" if text else line


def png_info(recipe: dict[str, Any], size: tuple[int, int]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    # iTXt (UTF-8) so prompts in any language survive; A1111 reads both tEXt and iTXt.
    info.add_itxt(PARAMETERS_KEY, a1111_parameters(recipe, size))
    info.add_itxt(JSON_KEY, json.dumps(recipe, ensure_ascii=False, sort_keys=True))
    return info


def read_recipe(path: str) -> dict[str, Any] | None:
    """The recipe stored in a PNG, or None if it has none."""
    with Image.open(path) as image:
        text = image.info.get(JSON_KEY) or getattr(image, "text", {}).get(JSON_KEY)
    return json.loads(text) if text else None
