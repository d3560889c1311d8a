"""DiT engine on a tiny random DiTPipeline saved locally (hub layout; nothing downloaded)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engines.errors import InputError, ModelUnavailable


def pixels(drawn) -> list[np.ndarray]:
    return [np.asarray(d.image) for d in drawn]


def test_class_names_map_to_ids_and_images_are_deterministic(engines, tiny_dit):
    model = str(tiny_dit)
    names = engines.dit.class_names(model)
    assert {"tench", "Tinca tinca", "goldfish", "golden retriever"} <= set(names)  # id2label read and passed
    batch = engines.dit.draw("goldfish", 5, 2, 3, 4.0, model)
    again = engines.dit.draw("Goldfish", 5, 2, 3, 4.0, model)  # any case
    assert all(np.array_equal(a, b) for a, b in zip(pixels(batch), pixels(again), strict=True))
    assert batch[1].recipe["params"]["class_id"] == 1 and batch[1].recipe["seed"] == 6
    by_index = engines.dit.draw(1, 5, 2, 3, 4.0, model)  # an index works too
    assert all(np.array_equal(a, b) for a, b in zip(pixels(batch), pixels(by_index), strict=True))
    other = engines.dit.draw("golden retriever", 5, 1, 3, 4.0, model)
    assert not np.array_equal(pixels(other)[0], pixels(batch)[0]) and batch[0].image.size == (16, 16)


def test_progress_and_stop(engines, tiny_dit):
    seen, stop = [], threading.Event()
    engines.dit.draw("tench", 0, 1, 4, 1.0, str(tiny_dit), on_step=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]

    def stop_at_two(progress) -> None:
        if progress.step == 2:
            stop.set()

    assert engines.dit.draw("tench", 0, 1, 4, 1.0, str(tiny_dit), on_step=stop_at_two, stop=stop) == []
    assert len(engines.dit.draw("tench", 0, 1, 2, 1.0, str(tiny_dit))) == 1  # the pipeline still works after


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("unicorn", "unknown ImageNet class"),
        ("goldfsh", "did you mean goldfish"),
        (9999, "out of range"),
        ("", "choose"),
    ],
)
def test_bad_classes_get_clear_messages(engines, tiny_dit, label, message):
    with pytest.raises(InputError, match=message):
        engines.dit.draw(label, 0, 1, 2, 4.0, str(tiny_dit))


def test_the_hub_dit_is_listed_and_unavailable_offline(engines):
    (spec,) = engines.registry.hub("dit")
    assert spec.id == "facebook/DiT-XL-2-256" and not spec.available and "offline" in spec.reason
    with pytest.raises(ModelUnavailable, match="unavailable"):
        engines.dit.draw("tench", 0, 1, 2, 4.0, "facebook/DiT-XL-2-256")
