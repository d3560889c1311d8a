"""Class-conditional GAN engine: choose what to make by name (e.g. category "Food & Drink", style "Noto").

Checkpoints come from `python -m training.train_gan --conditional` (the GAN trainer, one code
path). Each label set (category, style) can be left "any": the generator learned an "any"
embedding by seeing labels dropped during training. Seeds and truncation work as in the GAN
engine: image i of a grid comes from seed + i, and z <- psi * z.

Every class has a name (its id: "food-drink", what recipes and the API use) and may have a title
for people ("Food & Drink", from the checkpoint's `label_titles`); either one, in any case, picks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from engines.base import Engine, pil_batch
from engines.errors import InputError
from engines.gan import MAX_FRAMES, MAX_GRID, MAX_PSI, Generated, LoadedGAN, Walk, load_generator
from engines.registry import ModelSpec
from engines.runtime import check_float, check_int, check_seed, seeded_noise

ANY = "any"
MAX_SEEDS_PER_CLASS = 8


@dataclass
class LoadedConditional(LoadedGAN):
    labels: dict[str, list[str]] = None  # label set -> class names, in index order
    titles: dict[str, list[str]] = None  # label set -> the classes' titles for people (the names if none)


def label_titles(labels: dict[str, list[str]], titles: Any) -> dict[str, list[str]]:
    """The checkpoint's titles where they fit its classes (one string per class), else the names."""
    titles = titles if isinstance(titles, dict) else {}
    return {
        label_set: found
        if isinstance(found := titles.get(label_set), list)
        and len(found) == len(names)
        and all(isinstance(t, str) and t.strip() for t in found)
        else list(names)
        for label_set, names in labels.items()
    }


def label_index(label_set: str, names: list[str], value: Any, titles: list[str] | None = None) -> int:
    """A class name or title (any case), its index, or "any" -> its index; "any" is len(names)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"choose a {label_set} (or '{ANY}')")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == ANY:
            return len(names)
        if text in names:
            return names.index(text)
        folded = [n.casefold() for n in names] + [t.casefold() for t in titles or []]
        if text.casefold() in folded:
            return folded.index(text.casefold()) % len(names)
        if text.isdigit():
            value = int(text)
        else:
            raise InputError(f"unknown {label_set} {text[:80]!r}: use one of {', '.join(names)} or '{ANY}'")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise InputError(f"{label_set} must be a name ({', '.join(names)}) or '{ANY}'")
    if not 0 <= int(value) < len(names):
        raise InputError(f"{label_set} index {value} is out of range: 0 to {len(names) - 1}, or '{ANY}'")
    return int(value)


class ConditionalEngine(Engine):
    task = "conditional"

    def load_model(self, spec: ModelSpec) -> LoadedConditional:
        loaded = load_generator(spec, self.runtime)
        labels = spec.settings.get("labels") or {}
        if list(map(len, labels.values())) != loaded.model.label_sizes:
            raise InputError(f"{spec.id} has no class names for its labels: it is not a conditional GAN checkpoint")
        titles = label_titles(labels, spec.settings.get("label_titles"))
        return LoadedConditional(**vars(loaded), labels=labels, titles=titles)

    def label_names(self, model_id: str) -> dict[str, list[str]]:
        loaded, _ = self.load(model_id)
        return dict(loaded.labels)

    def label_choices(self, model_id: str) -> dict[str, list[tuple[str, str]]]:
        """Label set -> (title, name) per class, in index order: what a picker shows and sends."""
        loaded, _ = self.load(model_id)
        return {k: list(zip(loaded.titles[k], names, strict=True)) for k, names in loaded.labels.items()}

    def _labels(self, loaded: LoadedConditional, chosen: dict[str, Any]) -> list[int]:
        return [
            label_index(name, names, chosen.get(name), loaded.titles[name]) for name, names in loaded.labels.items()
        ]

    def _generate(self, loaded, z: torch.Tensor, labels: torch.Tensor | None = None, embedding=None) -> list:
        device, dtype = self.runtime.device, loaded.dtype
        with torch.inference_mode():
            labels = None if labels is None else labels.to(device)
            embedding = None if embedding is None else embedding.to(device, dtype)
            return pil_batch(loaded.model(z.to(device, dtype), labels, embedding))

    def sample(self, labels: dict[str, Any], seed: Any, count: Any, psi: Any, model_id: str) -> list[Generated]:
        """A grid of one class (per label set, a name or "any"): image i from seed + i."""
        count = check_int("grid size", count, 1, MAX_GRID)
        seed = check_seed(seed, count)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        indices = self._labels(loaded, labels)
        z = psi * seeded_noise((count, loaded.model.z_dim), seed)
        with lock:
            images = self._generate(loaded, z, torch.tensor(indices).repeat(count, 1))
        params = {"grid_size": count, "batch_seed": seed, "psi": psi, "labels": self.named(loaded, indices)}
        label = self.title(loaded, params)
        return [
            Generated(img, self.recipe(loaded, "sample", {**params, "index": i}, seed + i, label=label))
            for i, img in enumerate(images)
        ]

    def class_grid(self, seed: Any, seeds: Any, psi: Any, model_id: str) -> list[list[Generated]]:
        """One seed, every class: for each label set, one row per class (other labels "any"), the
        same noise (seeds seed .. seed + seeds - 1) in every row."""
        seeds = check_int("seeds per class", seeds, 1, MAX_SEEDS_PER_CLASS)
        seed = check_seed(seed, seeds)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        sizes = loaded.model.label_sizes
        z = psi * seeded_noise((seeds, loaded.model.z_dim), seed)
        rows = []
        for k in range(len(sizes)):
            for c in range(sizes[k]):
                indices = list(sizes)
                indices[k] = c
                with lock:
                    images = self._generate(loaded, z, torch.tensor(indices).repeat(seeds, 1))
                params = {"psi": psi, "batch_seed": seed, "grid_size": seeds, "labels": self.named(loaded, indices)}
                label = self.title(loaded, params)
                rows.append(
                    [
                        Generated(img, self.recipe(loaded, "class_grid", {**params, "index": i}, seed + i, label=label))
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
    ) -> Walk:
        """Walk the label embedding of one label set from class `start` to class `end` at a fixed seed
        (the other label sets as given); both ends included."""
        frames = check_int("frames", frames, 2, MAX_FRAMES)
        seed = check_seed(seed)
        psi = check_float("truncation ψ", psi, 0.0, MAX_PSI)
        loaded, lock = self.load(model_id)
        if label_set not in loaded.labels:
            raise InputError(f"morph which labels? one of {', '.join(loaded.labels)}, not {str(label_set)[:40]!r}")
        a = self._labels(loaded, {**labels, label_set: start})
        b = self._labels(loaded, {**labels, label_set: end})
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
        return Walk(images, self.recipe(loaded, "morph", params, seed, label=self.title(loaded, params)))

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

        def words(labels: dict[str, str]) -> list[str]:
            return [
                loaded.titles[k][loaded.labels[k].index(v)] if v != ANY else ANY
                for k, v in labels.items()
                if k in loaded.labels
            ]

        if "labels" in params:
            return " · ".join(w for w in words(params["labels"]) if w != ANY) or ANY
        start, end, label_set = words(params["from"]), words(params["to"]), params["label_set"]
        moving = list(loaded.labels).index(label_set)
        fixed = [w for i, w in enumerate(start) if i != moving and w != ANY]
        return " · ".join([f"{start[moving]} → {end[moving]}", *fixed])
