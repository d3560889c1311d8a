"""The Restyle engines on tiny random-weight models: the art-set translator (engines/restyle.py) and
image-to-image with a text model (engines/image_to_image.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engines.errors import InputError, ModelUnavailable
from engines.nets.restyle import SetDiscriminator, Translator
from engines.restyle import own_set
from gallery.metadata import a1111_parameters
from tests.conftest import randomise_styles


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_translator_shapes_and_style_rows():
    torch.manual_seed(0)
    model = Translator(("a", "b", "c"), ("A", "B", "C"), channels=4, blocks=1, resolution=16).eval()
    randomise_styles(model)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        by_index = model(x, torch.tensor([0, 2]))
        by_rows = model(x, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
        halfway = model(x, torch.tensor([[0.5, 0.5, 0.0]] * 2))
    assert by_index.shape == x.shape and torch.equal(by_index, by_rows)  # an index is its one-hot row
    assert not torch.allclose(halfway, model(x, torch.tensor([0, 0]))) and model.set_titles == ["A", "B", "C"]
    critic = SetDiscriminator(3, channels=4)
    assert critic(torch.zeros(2, 3, 64, 64), torch.tensor([0, 2])).shape == (2, 8, 8)  # its set's map, per image


def test_keep_white_changes_the_art_and_leaves_the_white_around_it():
    torch.manual_seed(0)
    model = Translator(("a", "b"), channels=4, blocks=1, resolution=16, keep_white=True).eval()
    with torch.no_grad():
        model.head.bias.fill_(-0.5)  # a change everywhere
    art = torch.ones(1, 3, 16, 16)
    art[:, :, 6:10, 6:10] = -0.6  # a dark square on white
    with torch.no_grad():
        out = model(art, torch.tensor([1]))
        model.keep_white = False
        unmasked = model(art, torch.tensor([1]))
        model.keep_white = True
        photo = torch.rand(1, 3, 16, 16) * 1.8 - 1  # no white in it: changed everywhere
        changed_photo = model(photo, torch.tensor([1]))
    changed = (out != art).any(1)[0]
    grown = torch.zeros(16, 16, dtype=torch.bool)
    grown[5:11, 5:11] = True  # the square and a pixel around it
    assert torch.equal(changed, grown) and (unmasked != art).any(1).all()
    assert (changed_photo != photo).any(1).all()


def test_restyle_into_every_other_set_names_each_and_keeps_the_input(engines, sample_png):
    made = engines.restyle.restyle(str(sample_png), "all", "tiny-restyle")
    source = made[0].recipe["params"]["source"]
    targets = [r.recipe["params"]["target"] for r in made]
    assert len(made) == 2 and source not in targets and set(targets) < {"noto", "twemoji", "fluent-3d"}
    assert made[0].recipe["params"]["source_detected"] and made[0].inputs["image"].size == (80, 60)
    assert made[0].image.size == (16, 12)  # padded to a square for the model, cut back to 4:3
    titles = {"noto": "Noto", "twemoji": "Twemoji", "fluent-3d": "Fluent 3D"}
    assert made[0].recipe["operation"] == "restyle" and made[0].recipe["label"] == titles[targets[0]]
    assert "Target: " in a1111_parameters(made[0].recipe, made[0].image.size)


def test_a_translation_is_the_same_alone_and_in_every_set_and_by_title(engines, sample_png):
    made = engines.restyle.restyle(str(sample_png), "all", "tiny-restyle")
    for result in made:
        params = result.recipe["params"]
        (alone,) = engines.restyle.restyle(str(sample_png), params["target"], "tiny-restyle", 1.0, params["source"])
        assert alone.image.tobytes() == result.image.tobytes()
    (titled,) = engines.restyle.restyle(str(sample_png), "Fluent 3D", "tiny-restyle", source="NOTO")
    assert titled.recipe["params"]["target"] == "fluent-3d" and titled.recipe["params"]["source"] == "noto"


def test_strength_walks_from_the_own_set_to_the_target(engines, sample_png):
    path = str(sample_png)
    own = engines.restyle.restyle(path, "noto", "tiny-restyle", 1.0, "noto")[0]
    none = engines.restyle.restyle(path, "twemoji", "tiny-restyle", 0.0, "noto")[0]
    half = engines.restyle.restyle(path, "twemoji", "tiny-restyle", 0.5, "noto")[0]
    full = engines.restyle.restyle(path, "twemoji", "tiny-restyle", 1.0, "noto")[0]
    assert none.image.tobytes() == own.image.tobytes()  # strength 0: its own set's drawing
    assert half.image.tobytes() not in (none.image.tobytes(), full.image.tobytes())
    past = engines.restyle.restyle(path, "twemoji", "tiny-restyle", 1.5, "noto")[0]  # on, away from its own set
    assert past.image.tobytes() != full.image.tobytes() and past.recipe["params"]["strength"] == 1.5


def test_past_the_target_the_row_moves_away_from_the_own_set():
    from engines.restyle import style_row

    model = Translator(("a", "b", "c"), channels=4, blocks=1, resolution=16)
    row = style_row(model, 0, 2, 1.5, torch.zeros(1))
    assert row.tolist() == [[-0.5, 0.0, 1.5]]  # still sums to 1, as every row the strength walks


def test_the_own_set_is_the_one_that_changes_the_image_least():
    torch.manual_seed(0)
    model = Translator(("a", "b"), channels=4, blocks=1, resolution=16).eval()
    with torch.no_grad():  # set b's tables scale the residual path to 0: set b leaves an image almost alone
        model.head.weight.mul_(10)
        for block in model.blocks:
            for norm in (block.norm1, block.norm2):
                norm.scale[1] = 0
                norm.shift[1] = 0
        x = torch.rand(1, 3, 16, 16) * 2 - 1
        assert own_set(model, x) == 1


def test_the_own_set_is_read_by_the_critics_classifier_when_the_translator_carries_it():
    torch.manual_seed(0)
    model = Translator(("a", "b", "c"), channels=4, blocks=1, resolution=16, reader_channels=4).eval()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        for favoured in (2, 0):
            model.reader.classifier.bias.zero_()
            model.reader.classifier.bias[favoured] = 100.0
            assert own_set(model, x) == favoured


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(target="sepia"), "target art set is one of noto, twemoji, fluent-3d, or all"),
        (dict(target="noto", source="sepia"), "source art set is one of .*, or auto"),
        (dict(target=None), "target art set"),
        (dict(target="noto", strength=1.6), "strength must be a number from 0.0 to 1.5"),
        (dict(target="noto", strength="lots"), "strength"),
        (dict(target="noto", image="no-such-file.png"), "(?i)not|no such|read"),
        (dict(target="noto", image=None), "(?i)image"),
    ],
)
def test_bad_requests_get_a_clear_message(engines, sample_png, kwargs, message):
    kwargs = {"image": str(sample_png), "model_id": "tiny-restyle"} | kwargs
    with pytest.raises(InputError, match=message):
        engines.restyle.restyle(**kwargs)


def test_sets_are_read_from_the_model(engines):
    sets = [("Noto", "noto"), ("Twemoji", "twemoji"), ("Fluent 3D", "fluent-3d")]
    assert engines.restyle.sets("tiny-restyle") == sets


def draw(engines, image, **kwargs):
    request = dict(prompt="a cat", negative_prompt="", strength=0.5, seed=7, count=2, steps=4, guidance_scale=3.0)
    return engines.image_to_image.draw(image=image, **(request | {"model_id": "tiny-ldm"} | kwargs))


def test_image_to_image_redraws_seeded_images_with_the_text_models_own_modules(engines, sample_png):
    made = draw(engines, str(sample_png))
    assert [r.recipe["seed"] for r in made] == [7, 8] and made[0].image.size == (64, 48)  # 4:3 kept
    assert made[0].recipe["params"]["strength"] == 0.5 and made[0].inputs["image"].size == (80, 60)
    assert made[0].image.tobytes() != made[1].image.tobytes()
    again = draw(engines, str(sample_png))
    assert [r.image.tobytes() for r in again] == [r.image.tobytes() for r in made]
    (alone,) = draw(engines, str(sample_png), seed=8, count=1)  # image i alone: the same draw (batched rounding)
    assert np.abs(pixels(alone.image) - pixels(made[1].image)).max() <= 2
    text, _ = engines.text.load("tiny-ldm")
    redraw, _ = engines.image_to_image.load("tiny-ldm")
    assert redraw.model.unet is text.model.unet and redraw.model.scheduler is not text.model.scheduler


def test_image_to_image_runs_at_least_one_step_at_any_strength(engines, sample_png):
    light = draw(engines, str(sample_png), strength=0.05, count=1, steps=4)[0]
    assert light.recipe["params"]["steps"] == 20  # at least one step must run: 20 × 0.05
    heavy = draw(engines, str(sample_png), strength=1.0, count=1)[0]
    assert heavy.recipe["params"]["steps"] == 4 and heavy.image.tobytes() != light.image.tobytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(strength=0.0), "strength must be a number from 0.05 to 1.0"),
        (dict(strength=float("nan")), "strength"),
        (dict(count=9), "images must be a whole number from 1 to 8"),
        (dict(prompt=5), "prompt must be text"),
        (dict(image="no-such-file.png"), "(?i)not|no such|read"),
    ],
)
def test_image_to_image_bad_requests_get_a_clear_message(engines, sample_png, kwargs, message):
    kwargs = {"image": str(sample_png)} | kwargs
    with pytest.raises(InputError, match=message):
        draw(engines, **kwargs)


def test_a_hub_style_text_pipeline_redraws_through_the_same_call(engines, sample_png, tiny_hub_text_pipeline):
    """A CLIP text encoder and no atelier.json, as SD-Turbo's repo: by folder, the same contract."""
    made = draw(engines, str(sample_png), count=1, model_id=str(tiny_hub_text_pipeline))
    assert made[0].recipe["model_source"] == "local" and made[0].image.size[0] / made[0].image.size[1] == 4 / 3


def test_the_turbo_presets_are_listed_and_unavailable_offline(engines, sample_png):
    hub = {spec.id: spec for spec in engines.registry.hub("image_to_image")}
    assert set(hub) == {"stabilityai/sd-turbo", "stabilityai/sdxl-turbo"}
    assert not hub["stabilityai/sdxl-turbo"].available and "offline" in hub["stabilityai/sdxl-turbo"].reason
    with pytest.raises(ModelUnavailable, match="unavailable"):
        draw(engines, str(sample_png), model_id="stabilityai/sd-turbo")
