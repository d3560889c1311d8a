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


def read_parameters(image: Image.Image) -> dict[str, Any] | None:
    """What made a PNG, in one shape whichever tool wrote it: {source, prompt, negative_prompt, seed,
    steps, guidance_scale, sampler, size, model, model_hash, recipe (ours, else None)}; None when
    it carries no recipe. Atelier's own JSON first; then AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI
    and NovelAI chunks, read by sd-parsers (maintained against those tools' formats)."""
    text = image.info.get(JSON_KEY) or _text_chunks(image).get(JSON_KEY)
    if text:
        try:
            recipe = json.loads(text)
        except ValueError:
            recipe = None
        if isinstance(recipe, dict):
            params = recipe.get("params") if isinstance(recipe.get("params"), dict) else {}
            return {
                "source": "Atelier",
                "prompt": recipe.get("prompt"),
                "negative_prompt": recipe.get("negative_prompt"),
                "seed": recipe.get("seed"),
                "steps": params.get("steps"),
                "guidance_scale": params.get("guidance_scale"),
                "sampler": params.get("scheduler"),
                "size": params.get("size") or f"{image.width}x{image.height}",
                "model": recipe.get("model"),
                "model_hash": recipe.get("model_hash"),
                "recipe": recipe,
            }
    from sd_parsers import ParserManager

    try:
        info = ParserManager().parse(image)
    except Exception:  # a malformed chunk in a stranger's file: as good as none
        info = None
    if info is None or not info.samplers:
        return None
    sampler = info.samplers[0]
    model = sampler.model or next(iter(info.models), None)
    return {
        "source": info.generator.value,  # "AUTOMATIC1111", "ComfyUI", ...
        "prompt": info.full_prompt or None,
        "negative_prompt": info.full_negative_prompt or None,
        "seed": sampler.parameters.get("seed"),
        "steps": sampler.parameters.get("steps"),
        "guidance_scale": sampler.parameters.get("cfg_scale"),
        "sampler": sampler.name,
        "size": info.metadata.get("Size") or f"{image.width}x{image.height}",
        "model": getattr(model, "name", None),
        "model_hash": getattr(model, "hash", None),
        "recipe": None,
    }


def _text_chunks(image: Image.Image) -> dict[str, str]:
    """A PNG's text chunks, those after the pixels too (reading them decodes the image: the caller
    checked its size first)."""
    try:
        return dict(getattr(image, "text", {}) or {})
    except (OSError, ValueError, SyntaxError):
        return {}
