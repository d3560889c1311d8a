"""Class labels by name, for the class-conditional GAN: names and titles, "any", drawn label sets.

No torch here: the page builds its pickers from a checkpoint's atelier.json (`labels`,
`label_titles`, `drawn_labels`) before torch is imported, and the engine checks requests with
the same functions.

Every class has a name (its id: "food-drink", what recipes and the API use) and may have a title
for people ("Food & Drink", from the checkpoint's `label_titles`); either one, in any case, picks it.
A *drawn* label set (the emoji model's subjects) is nested in a picked one; nobody picks it: each
image draws one from its own seed (see engines/conditional.py).
"""

from __future__ import annotations

import math
import random
from typing import Any

from engines.errors import InputError

ANY = "any"


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
    whole = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not whole or value != int(value):
        raise InputError(f"{label_set} must be a name ({', '.join(names)}) or '{ANY}'")
    if not 0 <= int(value) < len(names):
        raise InputError(f"{label_set} index {value} is out of range: 0 to {len(names) - 1}, or '{ANY}'")
    return int(value)


def draw_nested(parents: list[int], parent: int, parent_classes: int, seed: int) -> int:
    """A class of a drawn label set for one image: one of those nested in the parent class asked for
    (any of them when the parent is "any", index parent_classes), picked by the image's seed alone."""
    under = [i for i, p in enumerate(parents) if parent in (p, parent_classes)]
    return random.Random(seed).choice(under)


def drawn_labels(model_id: str, labels: dict[str, list[str]], drawn: Any) -> dict[str, tuple[str, list[int]]]:
    """atelier.json's `drawn_labels` ({"subject": {"within": "category", "parents": [3, 3, 0, ...]}}),
    checked: each drawn set nests in an earlier, picked one, with one parent class per class."""
    checked = {}
    for name, entry in (drawn or {}).items():
        parent = entry.get("within") if isinstance(entry, dict) else None
        parents = entry.get("parents") if isinstance(entry, dict) else None
        if (
            name not in labels
            or parent not in labels
            or parent in checked
            or list(labels).index(parent) > list(labels).index(name)
            or not isinstance(parents, list)
            or len(parents) != len(labels[name])
            or not all(isinstance(p, int) and 0 <= p < len(labels[parent]) for p in parents)
        ):
            raise InputError(f"{model_id}: its drawn label set {str(name)[:40]!r} does not fit its labels")
        checked[name] = (parent, parents)
    return checked


def picker_choices(settings: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Label set -> (title, name) per class, in index order, for the label sets a person picks:
    what the pickers show and send. Empty for a checkpoint without labels."""
    labels = settings.get("labels") if isinstance(settings.get("labels"), dict) else {}
    titles = label_titles(labels, settings.get("label_titles"))
    drawn = settings.get("drawn_labels") if isinstance(settings.get("drawn_labels"), dict) else {}
    return {k: list(zip(titles[k], names, strict=True)) for k, names in labels.items() if k not in drawn}
