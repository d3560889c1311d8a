"""DiT engine: class-conditional diffusion over the 1,000 ImageNet classes (facebook/DiT-XL-2-256 or
any DiT repo id / local folder), through diffusers' DiTPipeline, fp16 on CUDA.

Known traps, handled here:
- `id2label` is not saved with a pipeline (save_pretrained drops it), so it is read from the
  folder's model_index.json (hub repos) or an `id2label.json` beside it, and passed on load;
- class names go to `get_label_ids` as a list (a bare string is split into characters);
- the class embedding has 1,001 rows: index 1000 is the unconditional class used by guidance,
  so only 0..999 are valid choices.
DiTPipeline has no step callback; progress and Stop hook its progress bar.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engines.base import Engine, Result, weights_hash
from engines.errors import InputError, ModelUnavailable
from engines.limits import MAX_DIT_GUIDANCE, MAX_DRAW, MAX_STEPS, check_float, check_int, check_seed
from engines.registry import ModelSpec
from engines.text import LoadedPipeline, Progress

NUM_CLASSES = 1000  # ImageNet; index 1000 is the null class of classifier-free guidance


class Stopped(Exception):
    """Raised between steps when the user pressed Stop."""


def read_id2label(spec: ModelSpec) -> dict[int, str]:
    """ImageNet class names from the pipeline's model_index.json or an id2label.json beside it."""
    if spec.source == "hub":
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(spec.location, local_files_only=True))
    else:
        folder = Path(spec.location)
    for name, key in (("model_index.json", "id2label"), ("id2label.json", None)):
        path = folder / name
        if path.is_file():
            data = json.loads(path.read_text())
            data = data.get(key) if key else data
            if data:
                return {int(k): str(v) for k, v in data.items()}
    return {}


def load_dit(spec: ModelSpec, runtime) -> LoadedPipeline:
    from diffusers import DiTPipeline, DPMSolverMultistepScheduler

    id2label = read_id2label(spec)
    pipe = DiTPipeline.from_pretrained(spec.location, dtype=runtime.dtype, id2label=id2label or None)
    classes = pipe.transformer.config.num_embeds_ada_norm
    if classes is None or classes < NUM_CLASSES:
        raise ModelUnavailable(f"{spec.id}: its class embedding has {classes} classes; DiT needs 1000 + 1 (null)")
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)  # ~25 steps suffice
    pipe.to(runtime.device)
    if not pipe.labels:  # no names shipped: classes by number
        pipe.labels = {f"class {i}": i for i in range(NUM_CLASSES)}
    size = pipe.transformer.config.sample_size * 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    defaults = {"steps": 25, "guidance_scale": 4.0, "image_size": size}
    return LoadedPipeline(pipe, spec, runtime.dtype, weights_hash(spec), defaults, pipe.scheduler)


def class_id(labels: dict[str, int], value: Any) -> tuple[str, int]:
    """A class name (any of its synonyms, any case) or an index 0..999 -> (name, id)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError("choose an ImageNet class (type to search)")
    if isinstance(value, bool):
        raise InputError("the class must be a name or an index from 0 to 999")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        index = float(value)
        if not index.is_integer() or not 0 <= index < NUM_CLASSES:
            raise InputError(f"class index {value} is out of range: 0 to {NUM_CLASSES - 1}")
        index = int(index)
        return next((name for name, i in labels.items() if i == index), f"class {index}"), index
    if not isinstance(value, str):
        raise InputError("the class must be a name or an index from 0 to 999")
    text = value.strip()
    lowered = {name.lower(): name for name in labels}
    if text.lower() in lowered:
        name = lowered[text.lower()]
        return name, labels[name]
    close = difflib.get_close_matches(text.lower(), list(lowered), n=3)
    hint = f"; did you mean {', '.join(lowered[c] for c in close)}?" if close else ""
    raise InputError(f"unknown ImageNet class {text[:80]!r}{hint}")


class DiTEngine(Engine):
    task = "dit"

    def load_model(self, spec: ModelSpec) -> LoadedPipeline:
        return load_dit(spec, self.runtime)

    def class_names(self, model_id: str) -> list[str]:
        loaded, _ = self.load(model_id)
        return list(loaded.model.labels)

    def draw(
        self,
        label: Any,
        seed: Any,
        count: Any,
        steps: Any,
        guidance_scale: Any,
        model_id: str,
        on_step: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[Result]:
        """`count` images of one class (image i from seed + i); [] if stopped."""
        count = check_int("images", count, 1, MAX_DRAW)
        seed = check_seed(seed, count)
        steps = check_int("steps", steps, 1, MAX_STEPS)
        guidance = check_float("guidance scale", guidance_scale, 0.0, MAX_DIT_GUIDANCE)
        loaded, lock = self.load(model_id)
        pipe = loaded.model
        name, index = class_id(pipe.labels, label)

        def progress_bar(iterable=None, total=None):  # replaces DiffusionPipeline.progress_bar for this call
            for i, item in enumerate(iterable):
                if stop is not None and stop.is_set():
                    raise Stopped
                yield item
                if on_step is not None:
                    on_step(Progress(i + 1, steps))

        with lock, torch.inference_mode():
            pipe.progress_bar = progress_bar
            try:
                ids = pipe.get_label_ids([name]) if name in pipe.labels else [index]  # a list, never a bare str
                output = pipe(
                    class_labels=ids * count,
                    guidance_scale=guidance,
                    num_inference_steps=steps,
                    generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(count)],
                )
            except Stopped:
                return []
            finally:
                del pipe.progress_bar  # back to the class's method
        params = {"label": name, "class_id": index, "batch_seed": seed, "count": count, "steps": steps}
        params |= {"guidance_scale": guidance, "scheduler": type(pipe.scheduler).__name__}
        recipes = [
            self.recipe(loaded, "dit_sample", {**params, "index": i}, seed + i, label=name) for i in range(count)
        ]
        return [Result(image, recipe) for image, recipe in zip(output.images, recipes, strict=True)]
