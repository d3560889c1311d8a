"""Class-conditional engine on a tiny random conditional generator (category x style, each or 'any')."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engines.errors import InputError
from engines.labels import ANY, label_index, label_titles
from tests.conftest import TINY_LABELS, TINY_TITLES

ANIMALS_FLAT = {"category": "animals", "style": "flat"}


def pixels(generated) -> list[np.ndarray]:
    return [np.asarray(g.image) for g in generated]


def test_labels_to_images_are_deterministic_and_follow_the_seed_contract(engines):
    grid = engines.conditional.sample(ANIMALS_FLAT, 7, 4, 1.0, "tiny-cgan")
    again = engines.conditional.sample(ANIMALS_FLAT, 7, 4, 1.0, "tiny-cgan")
    assert all(np.array_equal(a, b) for a, b in zip(pixels(grid), pixels(again), strict=True))
    alone = engines.conditional.sample(ANIMALS_FLAT, 9, 1, 1.0, "tiny-cgan")
    assert np.array_equal(pixels(alone)[0], pixels(grid)[2])
    food = engines.conditional.sample({"category": "food", "style": "flat"}, 7, 4, 1.0, "tiny-cgan")
    assert not np.array_equal(pixels(food)[0], pixels(grid)[0])
    assert grid[1].recipe["params"]["labels"] == ANIMALS_FLAT and grid[1].recipe["seed"] == 8


def test_every_class_name_maps_to_its_index_and_back(engines):
    loaded, _ = engines.conditional.load("tiny-cgan")
    for label_set, names in TINY_LABELS.items():
        for i, name in enumerate(names):
            assert label_index(label_set, names, name) == i == label_index(label_set, names, i)
        assert label_index(label_set, names, ANY) == len(names)
    assert engines.conditional.named(loaded, [1, 2]) == {"category": "animals", "style": ANY}


def test_titles_pick_the_same_classes_and_name_the_images(engines):
    """Pickers show "Food & Drink" and send "food"; a title typed in any case picks the same class,
    recipes keep the names, and each image says what it is in words."""
    for label_set, names in TINY_LABELS.items():
        for i, (name, title) in enumerate(zip(names, TINY_TITLES[label_set], strict=True)):
            assert label_index(label_set, names, title, TINY_TITLES[label_set]) == i
            assert label_index(label_set, names, f" {title.upper()} ", TINY_TITLES[label_set]) == i
            assert label_index(label_set, names, name.upper(), TINY_TITLES[label_set]) == i
    assert engines.conditional.label_choices("tiny-cgan")["category"][2] == ("Food & Drink", "food")
    by_title = engines.conditional.sample({"category": "Food & Drink", "style": "3D"}, 4, 2, 1.0, "tiny-cgan")
    by_name = engines.conditional.sample({"category": "food", "style": "3d"}, 4, 2, 1.0, "tiny-cgan")
    assert all(np.array_equal(a, b) for a, b in zip(pixels(by_title), pixels(by_name), strict=True))
    assert by_title[0].recipe["params"]["labels"] == {"category": "food", "style": "3d"}
    assert by_title[0].recipe["label"] == "Food & Drink · 3D"
    anything = engines.conditional.sample({"category": ANY, "style": "flat"}, 4, 1, 1.0, "tiny-cgan")
    assert anything[0].recipe["label"] == "Flat"
    walk = engines.conditional.morph("category", "smileys", "Food & Drink", {"style": ANY}, 5, 3, 1.0, "tiny-cgan")
    assert walk.recipe["label"] == "Smileys → Food & Drink" and walk.recipe["params"]["to"]["category"] == "food"
    with pytest.raises(InputError, match="unknown category 'Food and Drink'"):
        engines.conditional.sample({"category": "Food and Drink", "style": ANY}, 0, 1, 1.0, "tiny-cgan")


def test_titles_that_do_not_fit_the_classes_fall_back_to_the_names():
    labels = {"category": ["a", "b"], "style": ["x"]}
    assert label_titles(labels, None) == labels
    assert label_titles(labels, {"category": ["A"], "style": [""]}) == labels  # too few; empty
    assert label_titles(labels, {"category": ["A", "B"]}) == {"category": ["A", "B"], "style": ["x"]}


def test_any_is_its_own_learned_class(engines):
    """'any' is the embedding trained with dropped labels: a valid choice with its own images."""
    anything = engines.conditional.sample({"category": ANY, "style": ANY}, 0, 2, 1.0, "tiny-cgan")
    smileys = engines.conditional.sample({"category": "smileys", "style": ANY}, 0, 2, 1.0, "tiny-cgan")
    assert anything[0].recipe["params"]["labels"] == {"category": ANY, "style": ANY}
    assert not np.array_equal(pixels(anything)[0], pixels(smileys)[0])


def test_one_seed_every_class(engines):
    rows = engines.conditional.class_grid(3, 2, 1.0, "tiny-cgan")
    assert len(rows) == 3 + 2 and all(len(row) == 2 for row in rows)
    assert [row[0].recipe["params"]["labels"]["category"] for row in rows[:3]] == TINY_LABELS["category"]
    assert [row[0].recipe["params"]["labels"]["style"] for row in rows[3:]] == TINY_LABELS["style"]
    assert [row[1].recipe["label"] for row in rows] == TINY_TITLES["category"] + TINY_TITLES["style"]


def test_class_morph_ends_at_both_classes(engines):
    walk = engines.conditional.morph("category", "smileys", "food", {"style": "3d"}, 5, 6, 1.0, "tiny-cgan")
    start = engines.conditional.sample({"category": "smileys", "style": "3d"}, 5, 1, 1.0, "tiny-cgan")
    end = engines.conditional.sample({"category": "food", "style": "3d"}, 5, 1, 1.0, "tiny-cgan")
    assert len(walk.frames) == 6
    assert np.abs(np.asarray(walk.frames[0], int) - pixels(start)[0]).max() <= 1
    assert np.abs(np.asarray(walk.frames[-1], int) - pixels(end)[0]).max() <= 1


SUBJECTS = "tiny-cgan-subjects"  # subjects nested in the categories: grin (smileys), cat, dog (animals), apple (food)


def subjects_of(generated) -> list[str]:
    return [g.recipe["params"]["labels"]["subject"] for g in generated]


def test_a_drawn_subject_comes_from_the_category_asked_for_and_the_seed_alone(engines):
    animals = engines.conditional.sample(ANIMALS_FLAT, 0, 16, 1.0, SUBJECTS)
    assert set(subjects_of(animals)) == {"cat", "dog"}  # both animals, nothing else
    assert (
        subjects_of(engines.conditional.sample({"category": "food", "style": ANY}, 0, 4, 1.0, SUBJECTS))
        == ["apple"] * 4
    )
    anything = engines.conditional.sample({"category": ANY, "style": "3d"}, 0, 32, 1.0, SUBJECTS)
    assert set(subjects_of(anything)) == {"grin", "cat", "dog", "apple"}  # 'any' category: every subject
    alone = engines.conditional.sample(ANIMALS_FLAT, 5, 1, 1.0, SUBJECTS)  # image 5 of the grid, re-made alone
    assert subjects_of(alone) == subjects_of(animals)[5:6] and np.array_equal(pixels(alone)[0], pixels(animals)[5])
    assert animals[0].recipe["label"] == "animals · flat"  # captions say what was asked for


def test_a_subject_can_be_named_and_nobody_has_to_pick_one(engines):
    dogs = engines.conditional.sample({**ANIMALS_FLAT, "subject": "dog"}, 0, 4, 1.0, SUBJECTS)
    assert subjects_of(dogs) == ["dog"] * 4
    assert list(engines.conditional.label_names(SUBJECTS)) == ["category", "style"]  # the pickers
    assert list(engines.conditional.label_choices(SUBJECTS)) == ["category", "style"]
    rows = engines.conditional.class_grid(3, 2, 1.0, SUBJECTS)
    assert len(rows) == 3 + 2  # a row per category and per style, none per subject
    assert subjects_of(rows[1]) == [
        engines.conditional.sample(ANIMALS_FLAT, 3 + i, 1, 1.0, SUBJECTS)[0].recipe["params"]["labels"]["subject"]
        for i in range(2)
    ]
    with pytest.raises(InputError, match="morph which labels"):
        engines.conditional.morph("subject", "cat", "dog", ANIMALS_FLAT, 0, 3, 1.0, SUBJECTS)
    walk = engines.conditional.morph("category", "smileys", "food", {"style": "3d"}, 5, 3, 1.0, SUBJECTS)
    assert walk.recipe["params"]["from"]["subject"] == "grin" and walk.recipe["params"]["to"]["subject"] == "apple"


def test_drawn_labels_that_do_not_fit_the_labels_are_refused():
    from engines.labels import drawn_labels

    labels = {"category": ["a", "b"], "style": ["x"], "subject": ["s", "t", "u"]}
    assert drawn_labels("m", labels, {"subject": {"within": "category", "parents": [0, 1, 1]}}) == {
        "subject": ("category", [0, 1, 1])
    }
    for bad in (
        {"subject": {"within": "category", "parents": [0, 1]}},  # one parent too few
        {"subject": {"within": "category", "parents": [0, 1, 2]}},  # no category 2
        {"subject": {"within": "colour", "parents": [0, 0, 0]}},  # no such label set
        {"category": {"within": "subject", "parents": [0, 0]}},  # nested in a later set
        {"subject": [0, 1, 1]},
    ):
        with pytest.raises(InputError, match="does not fit"):
            drawn_labels("m", labels, bad)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"category": "dragons", "style": "flat"}, "unknown category"),
        ({"category": 9999, "style": "flat"}, "out of range"),
        ({"category": "", "style": "flat"}, "choose a category"),
        ({"category": "animals"}, "choose a style"),
        ({"category": True, "style": "flat"}, "must be a name"),
    ],
)
def test_bad_labels_get_clear_messages(engines, labels, message):
    with pytest.raises(InputError, match=message):
        engines.conditional.sample(labels, 0, 1, 1.0, "tiny-cgan")


def test_an_unconditional_checkpoint_is_not_a_conditional_model(engines):
    with pytest.raises(Exception, match="unknown conditional model"):
        engines.conditional.sample(ANIMALS_FLAT, 0, 1, 1.0, "tiny-gan")


BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.mark.skipif(not (BUNDLED / "emoji-conditional" / "atelier.json").exists(), reason="no bundled model yet")
def test_bundled_conditional_gan_makes_the_category_asked_for():
    """Real quality: the feature network names the asked-for category far above chance (1 in 8)."""
    import torch

    from engines import create_engines
    from engines.nets.features import EmojiEncoder
    from engines.registry import Registry
    from engines.runtime import Runtime

    engines = create_engines(Registry(BUNDLED), Runtime(torch.device("cpu"), torch.float32))
    rows = engines.conditional.class_grid(0, 8, 1.0, "emoji-conditional")[:8]  # a row per category
    images = [np.asarray(g.image, np.float32) for row in rows for g in row]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2) / 127.5 - 1
    net = EmojiEncoder.from_pretrained(BUNDLED / "emoji-features").eval()
    with torch.no_grad():
        predicted = net(x)["category_logits"].argmax(1)
    asked = torch.tensor([net.category_names.index(r[0].recipe["params"]["labels"]["category"]) for r in rows])
    assert (predicted == asked.repeat_interleave(8)).float().mean() > 0.3
    from training.data import CATEGORIES, CATEGORY_TITLES, STYLE_TITLES, STYLES

    choices = engines.conditional.label_choices("emoji-conditional")  # what the pickers show, and send
    assert choices == {
        "category": list(zip(CATEGORY_TITLES, CATEGORIES, strict=True)),
        "style": list(zip(STYLE_TITLES, STYLES, strict=True)),
    }
    food_in_noto = {"category": "Food & Drink", "style": "Noto"}  # the issue's own words
    noto_food = engines.conditional.sample(food_in_noto, 0, 1, 1.0, "emoji-conditional")
    assert noto_food[0].recipe["params"]["labels"] == {"category": "food-drink", "style": "noto"}
