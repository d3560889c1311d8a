"""Class-conditional GAN engine: choose what to make by name (e.g. category "Food & Drink", style "Noto").

Checkpoints come from `python -m training.train_gan --conditional` (the GAN trainer, one code
path). Each label set (category, style) can be left "any": the generator learned an "any"
embedding by seeing labels dropped during training. Seeds and truncation work as in the GAN
engine: image i of a grid comes from seed + i, and z <- psi * z.

Classes are picked by name or title (engines/labels.py, which the page uses too).

A checkpoint may also have *drawn* label sets (`drawn_labels` in atelier.json): finer labels
nested in a chosen one, such as the emoji model's subjects (small groups of like emoji, e.g.
"strawberry, cherries, peach", each within one category; see training/subjects.py). Nobody
picks them: each image draws one from its own seed among the subjects of the category asked for
(of every category for "any"), so a seed is still one image, and the pickers stay category and
style. A request may name one (the Python API), and the recipe records the one drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from engines.base import Engine, Loaded, Result, Strip, pil_batch
from engines.errors import InputError
from engines.gan import load_generator
from engines.labels import ANY, draw_nested, drawn_labels, label_index, label_titles
from engines.limits import MAX_FRAMES, MAX_GRID, MAX_PSI, MAX_SEEDS_PER_CLASS, check_float, check_int, check_seed
from engines.registry import ModelSpec
from engines.runtime import seeded_noise


@dataclass
class LoadedConditional(Loaded):
    labels: dict[str, list[str]] = None  # label set -> class names, in index order
    titles: dict[str, list[str]] = None  # label set -> the classes' titles for people (the names if none)
    # drawn label set -> (the label set it is nested in, the parent class of each of its classes)
    drawn: dict[str, tuple[str, list[int]]] = field(default_factory=dict)

    @property
    def picked(self) -> list[str]:
        """The label sets a person picks (the drawn ones follow from them and the seed)."""
        return [name for name in self.labels if name not in self.drawn]


class ConditionalEngine(Engine):
    task = "conditional"

    def load_model(self, spec: ModelSpec) -> LoadedConditional:
        loaded = load_generator(spec, self.runtime)
        labels = spec.settings.get("labels") or {}
        if list(map(len, labels.values())) != loaded.model.label_sizes:
            raise InputError(f"{spec.id} has no class names for its labels: it is not a conditional GAN checkpoint")
        titles = label_titles(labels, spec.settings.get("label_titles"))
        drawn = drawn_labels(spec.id, labels, spec.settings.get("drawn_labels"))
        return LoadedConditional(**vars(loaded), labels=labels, titles=titles, drawn=drawn)

    def label_names(self, model_id: str) -> dict[str, list[str]]:
        """The label sets a person picks -> their class names."""
        loaded, _ = self.load(model_id)
        return {name: loaded.labels[name] for name in loaded.picked}

    def label_choices(self, model_id: str) -> dict[str, list[tuple[str, str]]]:
        """Label set -> (title, name) per class, in index order: what a picker shows and sends."""
        loaded, _ = self.load(model_id)
        return {k: list(zip(loaded.titles[k], loaded.labels[k], strict=True)) for k in loaded.picked}

    def _labels(self, loaded: LoadedConditional, chosen: dict[str, Any], seed: int = 0) -> list[int]:
        """Every label set's index for one image; a drawn set left open is drawn from the image's seed."""
        indices = {}
        for name, names in loaded.labels.items():
            if name in loaded.drawn and (chosen.get(name) is None or str(chosen[name]).strip().lower() == ANY):
                parent, parents = loaded.drawn[name]
                indices[name] = draw_nested(parents, indices[parent], len(loaded.labels[parent]), seed)
            else:
                indices[name] = label_index(name, names, chosen.get(name), loaded.titles[name])
        return list(indices.values())

    def _generate(self, loaded, z: torch.Tensor, labels: torch.Tensor | None = None, embedding=None) -> list:
        device, dtype = self.runtime.device, loaded.dtype
        with torch.inference_mode():
            labels = None if labels is None else labels.to(device)
            embedding = None if embedding is None else embedding.to(device, dtype)
            return pil_batch(loaded.model(z.to(device, dtype), labels, embedding))

    def sample(self, labels: dict[str, Any], seed: Any, count: Any, psi: Any, model_id: str) -> list[Result]:
        """A grid of one class (per label set, a name or "any"): image i from seed + i."""
        count = check_int("grid size", count, 1, MAX_GRID)
        seed = check_seed(seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        indices = [self._labels(loaded, labels, seed + i) for i in range(count)]
        z = psi * seeded_noise((count, loaded.model.z_dim), seed)
        with lock:
            images = self._generate(loaded, z, torch.tensor(indices))
        params = {"count": count, "batch_seed": seed, "psi": psi}
        return [
            self.generated(loaded, img, "sample", {**params, "index": i}, indices[i], seed + i)
            for i, img in enumerate(images)
        ]

    def generated(
        self, loaded: LoadedConditional, image, operation: str, params: dict, indices: list[int], seed: int
    ) -> Result:
        """An image with its recipe: its labels by name (a drawn subject included), and in words."""
        params = {**params, "labels": self.named(loaded, indices)}
        return Result(image, self.recipe(loaded, operation, params, seed, label=self.title(loaded, params)))

    def class_grid(self, seed: Any, count: Any, psi: Any, model_id: str) -> list[list[Result]]:
        """One seed, every class: for each picked label set, one row per class (other labels "any"),
        the same noise (seeds seed .. seed + count - 1) in every row."""
        count = check_int("seeds per class", count, 1, MAX_SEEDS_PER_CLASS)
        seed = check_seed(seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        z = psi * seeded_noise((count, loaded.model.z_dim), seed)
        params = {"psi": psi, "batch_seed": seed, "count": count}
        rows = []
        for label_set in loaded.picked:
            for name in loaded.labels[label_set]:
                chosen = {**dict.fromkeys(loaded.picked, ANY), label_set: name}
                indices = [self._labels(loaded, chosen, seed + i) for i in range(count)]
                with lock:
                    images = self._generate(loaded, z, torch.tensor(indices))
                rows.append(
                    [
                        self.generated(loaded, img, "class_grid", {**params, "index": i}, indices[i], seed + i)
                        for i, img in enumerate(images)
                    ]
                )
        return rows

    def morph(
        self,
        label_set: str,
        start: Any,
        end: Any,
        labels: dict[str, Any],
        seed: Any,
        frames: Any,
        psi: Any,
        model_id: str,
    ) -> Strip:
        """Walk the label embedding of one label set from class `start` to class `end` at a fixed seed
        (the other label sets as given); both ends included."""
        frames = check_int("frames", frames, 2, MAX_FRAMES)
        seed = check_seed(seed)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        if label_set not in loaded.picked:
            raise InputError(f"morph which labels? one of {', '.join(loaded.picked)}, not {str(label_set)[:40]!r}")
        a = self._labels(loaded, {**labels, label_set: start}, seed)
        b = self._labels(loaded, {**labels, label_set: end}, seed)
        with torch.inference_mode():
            ends = loaded.model.embed(torch.tensor([a, b], device=self.runtime.device)).float().cpu()
        t = torch.linspace(0, 1, frames)[:, None]
        z = psi * seeded_noise((1, loaded.model.z_dim), seed).repeat(frames, 1)
        with lock:
            images = self._generate(loaded, z, embedding=ends[:1] * (1 - t) + ends[1:] * t)
        params = {
            "label_set": label_set,
            "from": self.named(loaded, a),
            "to": self.named(loaded, b),
            "frames": frames,
            "psi": psi,
        }
        return Strip(images, self.recipe(loaded, "morph", params, seed, label=self.title(loaded, params)))

    @staticmethod
    def named(loaded: LoadedConditional, indices: list[int]) -> dict[str, str]:
        return {
            name: names[i] if i < len(names) else ANY
            for (name, names), i in zip(loaded.labels.items(), indices, strict=True)
        }

    @staticmethod
    def title(loaded: LoadedConditional, params: dict[str, Any]) -> str:
        """What an image shows, in words: "Food & Drink · Noto" ("any" left out), or for a morph
        "Food & Drink → Symbols · Noto"."""

        def words(labels: dict[str, str]) -> list[str]:  # the picked labels: a drawn subject is in the recipe
            return [
                loaded.titles[k][loaded.labels[k].index(v)] if v != ANY else ANY
                for k, v in labels.items()
                if k in loaded.picked
            ]

        if "labels" in params:
            return " · ".join(w for w in words(params["labels"]) if w != ANY) or ANY
        start, end, label_set = words(params["from"]), words(params["to"]), params["label_set"]
        moving = list(loaded.labels).index(label_set)
        fixed = [w for i, w in enumerate(start) if i != moving and w != ANY]
        return " · ".join([f"{start[moving]} → {end[moving]}", *fixed])
