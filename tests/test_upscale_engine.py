"""The upscale engine on a tiny random-weight upscaler: ×4 of any image, Hires ×4 of what engines make."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engines.base import Strip
from engines.errors import InputError
from engines.limits import MAX_UPSCALE_SIDE
from gallery.metadata import a1111_parameters


def test_upscale_enlarges_four_times_keeps_the_input_and_is_deterministic(engines, sample_png):
    result = engines.upscale.upscale(str(sample_png), "tiny-upscale", source="20260101-000000-abcdef12")
    assert result.image.size == (80 * 4, 60 * 4) and result.inputs["image"].size == (80, 60)
    assert result.recipe["operation"] == "upscale" and result.recipe["params"]["source"] == "20260101-000000-abcdef12"
    again = engines.upscale.upscale(str(sample_png), "tiny-upscale")
    assert again.image.tobytes() == result.image.tobytes() and "source" not in again.recipe["params"]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (Image.new("RGB", (MAX_UPSCALE_SIDE + 1, 16)), "up to"),
        ("not-a-file.png", "not|no such|read"),
        (None, "image"),
    ],
)
def test_bad_inputs_get_a_clear_message(engines, image, message):
    with pytest.raises(InputError, match=f"(?i){message}"):
        engines.upscale.upscale(image, "tiny-upscale")


def test_hires_enlarges_each_image_alone_and_says_so_in_the_recipe(engines):
    grid = engines.gan.sample(seed=5, count=3, psi=1.0, model_id="tiny-gan")
    hires = engines.upscale.hires(grid, "tiny-upscale")
    assert [r.image.size for r in hires] == [(64, 64)] * 3
    assert hires[1].recipe["hires"]["scale"] == 4 and hires[1].recipe["hires"]["upscaler"] == "tiny-upscale"
    assert hires[1].recipe["seed"] == 6 and "hires" not in grid[1].recipe  # the engine's own results untouched
    alone = engines.upscale.hires(engines.gan.sample(seed=6, count=1, psi=1.0, model_id="tiny-gan"), "tiny-upscale")
    assert np.array_equal(np.asarray(alone[0].image), np.asarray(hires[1].image))  # image i alone, same pixels
    line = a1111_parameters(hires[0].recipe, hires[0].image.size)
    assert "Hires upscale: 4" in line and "Hires upscaler: tiny-upscale" in line


def test_hires_of_a_strip_enlarges_every_frame(engines):
    walk = engines.gan.interpolate(seed_a=1, seed_b=2, frames=3, psi=1.0, model_id="tiny-gan")
    hires = engines.upscale.hires(walk, "tiny-upscale")
    assert isinstance(hires, Strip) and [f.size for f in hires.frames] == [(64, 64)] * 3
    assert hires.recipe["hires"]["scale"] == 4 and hires.recipe["operation"] == "interpolate"
