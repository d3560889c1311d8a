"""Restyle engine: an image redrawn in another art set by a translator trained for it.

A translator in checkpoints/ (engines/nets/restyle.py, trained unpaired as CycleGAN is by
training/train_restyle.py) redraws an emoji in Noto, Twemoji, Fluent flat or Fluent 3D; one trained
on your own folders (`--data A B`) redraws between those. One generator draws every set, told which
by a row of weights over the sets: a one-hot row is a set, and the strength control walks the row
from the image's own set to the target (0: the image as its own set draws it, 1: the target set),
which is the model's own conditioning, not a blend of pixels. Past 1 the walk goes on, away from
the own set (1.5: the target's weight 1.5, the own set's -0.5): the target set is recognised more
often and less of the emoji is kept (the README's Restyle figures); engines/limits.py's
MAX_STRENGTH stops it where the gain stops.

Size policy: the image is padded to a square with white (as the training art is drawn) and resized
to the model's resolution (64 px); the translation is cut back to the image's shape at that size.
The image's own set, if not given, is read by the set classifier the translator's critic learnt,
shipped with it; a translator exported without one takes the set whose "translation" changes the
image least (the identity loss trained every set to leave its own art alone), which reads held-out
emoji's set far less often (README).
"""

from __future__ import annotations

from typing import Any

import torch

from engines.base import Engine, Loaded, Result, pil_batch, tensor_batch, weights_hash
from engines.errors import InputError
from engines.imaging import load_image, to_square
from engines.limits import MAX_STRENGTH, check_float
from engines.registry import ModelSpec

EVERY_SET = "all"  # the target that asks for every set but the image's own
AUTO = "auto"  # the source set: detected


class RestyleEngine(Engine):
    task = "restyle"

    def load_model(self, spec: ModelSpec) -> Loaded:
        from engines.nets.restyle import Translator

        model = Translator.from_pretrained(spec.location)  # safetensors + config.json, never a pickle
        model = model.to(self.runtime.device, self.runtime.dtype).eval().requires_grad_(False)
        return Loaded(model, spec, self.runtime.dtype, weights_hash(spec))

    def sets(self, model_id: str) -> list[tuple[str, str]]:
        """(title, name) of every art set a model draws, for a dropdown."""
        loaded, _ = self.load(model_id)
        return list(zip(loaded.model.set_titles, loaded.model.set_names, strict=True))

    def restyle(self, image: Any, target: Any, model_id: str, strength: Any = 1.0, source: Any = AUTO) -> list[Result]:
        """An image redrawn in the `target` set (a set's name or title, or "all": every set but the
        image's own), `strength` of the way from its own set (`source`: a set, or "auto" to detect it)."""
        original = load_image(image)  # any size the VAE tab takes: it is shrunk to the model's
        strength = check_float("strength", strength, 0.0, MAX_STRENGTH)
        loaded, lock = self.load(model_id)
        model = loaded.model
        detected = source in (None, "", AUTO)
        source_index = None if detected else set_index(model, source, "source")
        targets = None if target == EVERY_SET else [set_index(model, target, "target")]
        square, box = to_square(original, model.resolution)
        with lock, torch.inference_mode():
            x = tensor_batch([square]).to(self.runtime.device, loaded.dtype)
            if detected:
                source_index = own_set(model, x)
            if targets is None:
                targets = [s for s in range(len(model.set_names)) if s != source_index]
            # one target at a time: a translation's pixels do not depend on which others were asked for
            images = [pil_batch(model(x, style_row(model, source_index, t, strength, x)))[0] for t in targets]
        params = {
            "source": model.set_names[source_index],
            "source_detected": detected,
            "strength": strength,
            "size": f"{original.width}x{original.height}",
            "resolution": model.resolution,
        }
        return [
            Result(
                drawn.crop(box),  # the padding goes: the image's own shape
                self.recipe(loaded, "restyle", {**params, "target": model.set_names[t]}, label=model.set_titles[t]),
                inputs={"image": original},
            )
            for drawn, t in zip(images, targets, strict=True)
        ]


def style_row(model, source: int, target: int, strength: float, like: torch.Tensor) -> torch.Tensor:
    """The row of set weights [1, sets] `strength` of the way from the source set to the target."""
    row = [0.0] * len(model.set_names)
    row[source] += 1 - strength
    row[target] += strength
    return torch.tensor([row], dtype=like.dtype, device=like.device)


def set_index(model, name: Any, role: str) -> int:
    """A set by its name ("noto") or title ("Noto") -> its index, or InputError."""
    for index, (set_name, title) in enumerate(zip(model.set_names, model.set_titles, strict=True)):
        if isinstance(name, str) and name.strip().lower() in (set_name.lower(), title.lower()):
            return index
    choices = ", ".join(model.set_names)
    extra = f", or {EVERY_SET}" if role == "target" else f", or {AUTO}"
    raise InputError(f"the {role} art set is one of {choices}{extra}; not {str(name)[:80]!r}")


def own_set(model, x: torch.Tensor) -> int:
    """The set an image [1,3,H,W] is drawn in: as the critic's classifier reads it, or else the one whose
    translation changes it least."""
    if model.reader is not None:
        return int(model.reader.classify(x).argmax(1)[0])
    sets = len(model.set_names)
    kept = model(x.expand(sets, -1, -1, -1), torch.arange(sets, device=x.device)).clamp(-1, 1)
    return int((kept - x).abs().flatten(1).mean(1).argmin())
