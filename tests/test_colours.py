"""Colour words for the text model's captions: reading an image's colour, turning its hue, and the
captions a training run shows with the original and hue-shifted art."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.colours import colour_name, hsv_to_rgb, recoloured_caption, rgb_to_hsv, shift_hue, without_colours


def disc(fill, outline=None) -> np.ndarray:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((12, 12, 52, 52), fill=fill, outline=outline, width=3)
    return np.asarray(image)


@pytest.mark.parametrize(
    "fill, name",
    [
        ("#dd2e44", "red"),  # twemoji's red
        ("#f4900c", "orange"),
        ("#ffcc4d", "yellow"),  # the yellow of a face
        ("#77b255", "green"),
        ("#55acee", "blue"),
        ("#aa8ed6", "purple"),
        ("#f4abba", "pink"),
        ("#8a4b38", "brown"),  # dark orange-red
        ("#292f33", "black"),
        ("#99aab5", "grey"),
        ("#f0f0f0", "white"),
    ],
)
def test_colour_name_reads_the_main_colour(fill, name):
    assert colour_name(disc(fill, outline="#292f33")) == name  # a dark outline, as emoji have, changes nothing


def test_blank_art_has_no_colour():
    assert colour_name(np.full((64, 64, 3), 255, np.uint8)) is None


def test_hsv_round_trip_and_hue_shift():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.abs(hsv_to_rgb(rgb_to_hsv(pixels)).astype(int) - pixels).max() <= 1
    assert np.array_equal(shift_hue(pixels, 360), hsv_to_rgb(rgb_to_hsv(pixels)))
    red = disc("#ff0000")
    assert colour_name(shift_hue(red, 120)) == "green" and colour_name(shift_hue(red, 240)) == "blue"
    assert (shift_hue(red, 120)[0, 0] == 255).all()  # the white background stays white


def test_captions_lose_their_old_colour_words_and_lead_with_the_new_one():
    assert recoloured_caption("red apple, apple, fruit, red", "blue") == "blue apple, apple, fruit"
    assert recoloured_caption("grinning face, face, grin", "yellow") == "yellow grinning face, face, grin"
    assert recoloured_caption("white large square, Gray, square", "grey") == "grey large square, square"
    assert without_colours("light blue heart") == "light heart" and without_colours("reddish") == "reddish"


def test_training_set_pairs_each_image_with_captions_that_tell_the_truth():
    from training.train_ldm import training_set

    images = np.stack([disc("#ffcc4d"), disc("#99aab5"), disc("#dd2e44")])
    train = {
        "images": images,
        "caption": np.array(["grinning face, face", "stone, rock", "red apple, fruit, red"]),
        "style": np.array([2, 0, 3]),
        "style_names": np.array(["fluent-3d", "fluent-flat", "noto", "twemoji"]),
    }
    rows, captions, options, originals = training_set(train, colour_variants=2, seed=0)
    assert originals == 3 and len(rows) == 3 + 2 * 2  # the grey stone gets no hue-shifted copies
    assert np.array_equal(rows[:3], images)
    said = lambda row, colour, style: captions[options[row, colour, style]]  # noqa: E731
    assert said(0, 0, 0) == "grinning face, face" and said(0, 0, 1) == "grinning face, face, noto style"
    assert said(0, 1, 0) == "yellow grinning face, face" and said(2, 1, 1) == "red apple, fruit, twemoji style"
    assert said(1, 1, 0) == "grey stone, rock"
    for row in range(3, 7):  # a copy is always captioned with the colour it now has
        colour = colour_name(rows[row])
        assert colour not in (None, "grey") and said(row, 0, 0) == said(row, 1, 0)
        assert said(row, 0, 0).split(",")[0].split()[0] == colour
    assert not np.array_equal(rows[3], rows[0]) and colour_name(rows[3]) != "yellow"

    plain_rows, plain_captions, plain_options, _ = training_set(train, colour_variants=0)
    assert len(plain_rows) == 3 and set(plain_captions) == {said(r, 0, s) for r in range(3) for s in (0, 1)}
    assert (plain_options[:, 0] == plain_options[:, 1]).all()  # the first recipe: no colour words
